"""What every console page shares: who is looking, the templates, errors as pages.

A page needs a live console session whose user's roles (read afresh) hold
``dead_letters:read`` (operators and admins); an action needs ``dead_letters:manage``
(admins) and the session's CSRF token in the form. Errors are pages with the status
of the problem they stand for (a 4xx names the field), never a 500 for bad input.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from api_gateway.client_ip import trusted_networks
from api_gateway.commands import services_of
from api_gateway.console.sessions import COOKIE, ConsoleSession, ConsoleSessions, csrf_matches
from api_gateway.console.sessions import is_tls as _is_tls
from core.security import AsyncUserRolesReader
from events import Actor, Forbidden, HooklineError
from events.platform_commands import MANAGE_DEAD_LETTERS, READ_DEAD_LETTERS

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
Endpoint = Callable[[Request], Awaitable[Response]]


class SignInRequired(Exception):
    """No live session, or its user no longer holds a console role."""


@dataclass(frozen=True)
class Viewer:
    session_id: str
    session: ConsoleSession
    actor: Actor
    permissions: frozenset[str]

    @property
    def can_act(self) -> bool:
        return MANAGE_DEAD_LETTERS in self.permissions


def console_sessions(request: Request) -> ConsoleSessions:
    sessions: ConsoleSessions = request.app.state.console_sessions
    return sessions


def is_tls(request: Request) -> bool:
    return _is_tls(request, trusted_networks(services_of(request).settings.trusted_proxies))


async def viewer(request: Request) -> Viewer:
    session_id = request.cookies.get(COOKIE)
    session = await console_sessions(request).find(session_id)
    if session is None or session_id is None:
        raise SignInRequired
    services = services_of(request)
    roles = await AsyncUserRolesReader(services.redis).roles_of(session.user_id)
    actor = Actor(user_id=session.user_id, roles=session.roles if roles is None else roles)
    permissions = services.roles.permissions_of(actor)
    if READ_DEAD_LETTERS not in permissions:
        raise SignInRequired
    return Viewer(session_id, session, actor, permissions)


async def acting_viewer(request: Request, form: Any) -> Viewer:
    """The viewer of a POST: CSRF token checked, and allowed to act."""
    found = await viewer(request)
    if not csrf_matches(found.session.csrf, form.get("csrf")):
        raise Forbidden("csrf: the form's token does not match this session; reload the page")
    if not found.can_act:
        raise Forbidden(f"this action needs {MANAGE_DEAD_LETTERS} (the admin role)")
    return found


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=PAGE_HEADERS
    )


# Pages show operators' data: never cached, never framed.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "same-origin",
}


def page(endpoint: Endpoint) -> Endpoint:
    """A console endpoint: no session sends to the sign-in, an error is a page."""

    @functools.wraps(endpoint)
    async def wrapped(request: Request) -> Response:
        try:
            return await endpoint(request)
        except SignInRequired:
            return RedirectResponse("/console/signin", status_code=303)
        except HooklineError as e:
            if e.status >= 500:
                log.warning("console: %s failed: %s", request.url.path, e.detail)
            return error_page(request, e.status, e.title, e.detail)

    return wrapped


def error_page(request: Request, status: int, title: str, detail: str | None) -> Response:
    return render(
        request, "error.html", {"title": title, "detail": detail, "status": status}, status
    )
