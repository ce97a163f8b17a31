"""The operator console at ``/console``: server-rendered pages (Jinja2), a little
JavaScript, its templates and static files in this package. See docs/operations.md."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from api_gateway.console import actions, pages, signin
from api_gateway.console.sessions import ConsoleSessions
from modules import BaseModule

STATIC = Path(__file__).parent / "static"


def console_routes() -> list[BaseRoute]:
    return [
        Mount(
            "/console",
            routes=[
                Route("/", pages.overview),
                Route("/signin", signin.signin_form, methods=["GET"]),
                Route("/signin", signin.signin, methods=["POST"]),
                Route("/signout", signin.signout, methods=["POST"]),
                Route("/commands", pages.commands),
                Route("/commands/{command_id}", pages.command),
                Route("/commands/{command_id}/live", pages.command_json),
                Route("/dead-letters", pages.dead_letters),
                Route("/dead-letters/replay", actions.replay, methods=["POST"]),
                Route("/dead-letters/purge", actions.purge, methods=["POST"]),
                Route("/modules", pages.modules),
                Mount("/static", app=StaticFiles(directory=STATIC), name="console-static"),
            ],
        ),
    ]


def install_console(app: Starlette, classes: Mapping[str, type[BaseModule]]) -> None:
    """What the pages read from ``app.state``: the queues and the declared routes."""
    app.state.console_queues = tuple(classes)
    app.state.console_routes = [
        {
            "module": name,
            "method": route.method,
            "path": route.path,
            "command": cls.command_name(route.handler),
            "permission": route.permission or ("" if route.auth else "public"),
        }
        for name, cls in classes.items()
        for route in cls.routes
    ]


def start_console(app: Starlette, sessions: ConsoleSessions) -> None:
    app.state.console_sessions = sessions
