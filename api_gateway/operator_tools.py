"""The operator and documentation surface of the gateway, added to the app in one place.

Routes: the command event stream, ``/metrics``, ``/openapi.json``, ``/events`` and ``/hooks``.
Middleware: the per-request log context and the request metrics. The API
documents are built once, when the app is, from the module declarations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Route

from api_gateway.asyncapi import build_asyncapi, events_endpoint
from api_gateway.hooks_table import hooks_endpoint, hooks_table
from api_gateway.metrics import GatewayMetrics, MetricsMiddleware, metrics_endpoint
from api_gateway.openapi import api_version, build_openapi, openapi_endpoint
from api_gateway.request_context import RequestContextMiddleware
from api_gateway.stream import command_stream
from modules import BaseModule
from modules.introspection import declared


def operator_routes() -> list[BaseRoute]:
    return [
        Route("/commands/{command_id}/stream", command_stream),
        Route("/metrics", metrics_endpoint),
        Route("/openapi.json", openapi_endpoint),
        Route("/events", events_endpoint),
        Route("/hooks", hooks_endpoint),
    ]


def operator_middleware(
    routes: Sequence[BaseRoute], classes: Mapping[str, type[BaseModule]], metrics: GatewayMetrics
) -> list[Middleware]:
    """Outermost first: the log context wraps the metrics, so both see every request."""
    commands = [cls.command_name(r.handler) for cls in classes.values() for r in cls.routes]
    return [
        Middleware(RequestContextMiddleware),
        Middleware(MetricsMiddleware, metrics=metrics, routes=routes, command_names=commands),
    ]


def install_operator_tools(
    app: Starlette, classes: Mapping[str, type[BaseModule]], metrics: GatewayMetrics
) -> None:
    """Put what the operator routes serve on ``app.state``."""
    found = declared(classes)
    app.state.metrics = metrics
    app.state.openapi = build_openapi(found)
    app.state.asyncapi = build_asyncapi(found, api_version())
    app.state.asyncapi_public = build_asyncapi(found, api_version(), with_hooks=False)
    app.state.hooks_table = hooks_table(found)
