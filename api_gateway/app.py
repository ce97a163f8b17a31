"""The ASGI application: ``uvicorn api_gateway.app:app``.

Run it as ``hookline.stack.gateway_command`` does (``hookline gateway``, the
Dockerfile, docker-compose.yml): with ``--no-server-header``, so no answer names
the server, and ``--no-proxy-headers``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager

from starlette.applications import Starlette

from api_gateway.admin_routes import admin_routes
from api_gateway.command_routes import command_routes
from api_gateway.console import console_routes, install_console, start_console
from api_gateway.console.sessions import ConsoleSessions
from api_gateway.health_routes import health_routes
from api_gateway.metrics import GatewayMetrics, metrics_listener
from api_gateway.module_routes import build_routes
from api_gateway.operator_tools import install_operator_tools, operator_middleware, operator_routes
from api_gateway.problems import EXCEPTION_HANDLERS
from api_gateway.services import GatewayServices
from core import failpoints, tracing
from core.logs import configure_logging
from core.security import RoleTable
from core.settings import Settings
from modules import BaseModule, discover
from modules.introspection import declared


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings()
    classes = discover(settings.modules, settings.module_packages)
    found = declared(classes)  # the load order, event catalogue and hooks table, checked
    order = found.order
    roles = RoleTable.compose(found.permissions, found.permission_uses)
    routes = [
        *health_routes(),
        *command_routes(_cancellable(classes.values())),
        *operator_routes(),
        *admin_routes(),
        *console_routes(),
        *build_routes({name: classes[name] for name in order}, settings.route_rate_limits),
    ]

    metrics = GatewayMetrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        failpoints.install(settings.failpoints)
        services = GatewayServices.build(settings, tuple(order), roles)
        await services.start()
        app.state.services = services
        start_console(app, ConsoleSessions(services.redis, settings.console_session_ttl_s))
        try:
            with metrics_listener(metrics.registry, settings.metrics_host, settings.metrics_port):
                yield
        finally:
            await services.close()

    ordered = {name: classes[name] for name in order}
    app = Starlette(
        routes=routes,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
        middleware=operator_middleware(routes, ordered, metrics),
    )
    install_operator_tools(app, ordered, metrics)
    install_console(app, ordered)
    if tracing.start(tracing.GATEWAY):
        app.add_middleware(tracing.asgi_middleware())
    return app


def _cancellable(classes: Iterable[type[BaseModule]]) -> frozenset[str]:
    """The command names whose routes may be cancelled while they run."""
    return frozenset(
        cls.command_name(route.handler)
        for cls in classes
        for route in cls.routes
        if route.cancellable
    )


configure_logging()
app = create_app()
