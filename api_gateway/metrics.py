"""Gateway metrics for Prometheus: requests, latency, and commands by name and outcome.

Each app has its own registry (built with the app, not a module global), served
at ``GET /metrics`` to callers holding ``metrics:read`` (an admin's bearer token,
or an API key scoped ``metrics:read``: Prometheus sends either as a header). With
``HOOKLINE_METRICS_PORT`` set, the same registry is also served without
authentication on a listener of its own at ``HOOKLINE_METRICS_HOST`` (127.0.0.1
unless set), for a private scrape network. A gateway process is one scrape
target; run several gateways as several processes, each scraped on its own.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api_gateway.admission import Policy
from api_gateway.commands import services_of
from events import ConfigurationError

log = logging.getLogger(__name__)

METRICS_POLICY = Policy("metrics.read", permission="metrics:read")
_LISTENER_STOP_S = 5.0
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
UNMATCHED = "unmatched"


@dataclass
class GatewayMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "hookline_gateway_requests_total",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "hookline_gateway_request_duration_seconds",
            "Time to answer a request (to the end of the body), by method and route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "hookline_gateway_requests_in_progress",
            "Requests being answered now (open event streams included).",
            registry=self.registry,
        )
        self.commands = Counter(
            "hookline_gateway_commands_total",
            "Requests to module routes, by command name and outcome: accepted (202), "
            "succeeded or failed (the outcome, when the client waited), read_model (served "
            "from Redis), rejected (refused by the gateway), unavailable (5xx).",
            ["command", "outcome"],
            registry=self.registry,
        )


def command_outcome(status: int, has_location: bool) -> str:
    """How a module route's answer ended, from its status and whether it names a command."""
    if status >= 500:
        return "unavailable"
    if status == 202:
        return "accepted"
    if has_location:
        return "failed" if status >= 400 else "succeeded"
    return "rejected" if status >= 400 else "read_model"


@dataclass(frozen=True)
class _Target:
    template: str
    command: str | None


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template, never its raw path."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: GatewayMetrics,
        routes: Sequence[BaseRoute],
        command_names: Iterable[str],
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes
        self.command_names = frozenset(command_names)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        target = self._target(scope)
        answer: dict[str, int | bool] = {"status": 500, "location": False}

        async def observing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["location"] = "location" in Headers(raw=message.get("headers", []))
            await send(message)

        started = time.perf_counter()
        self.metrics.in_progress.inc()
        try:
            await self.app(scope, receive, observing_send)
        finally:
            self.metrics.in_progress.dec()
            self._record(scope["method"], target, answer, time.perf_counter() - started)

    def _target(self, scope: Scope) -> _Target:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE and isinstance(route, Route):
                name = route.name if route.name in self.command_names else None
                return _Target(route.path, name)
        return _Target(UNMATCHED, None)

    def _record(
        self, method: str, target: _Target, answer: dict[str, int | bool], elapsed_s: float
    ) -> None:
        status = int(answer["status"])
        self.metrics.requests.labels(method, target.template, str(status)).inc()
        self.metrics.latency.labels(method, target.template).observe(elapsed_s)
        if target.command is not None:
            outcome = command_outcome(status, bool(answer["location"]))
            self.metrics.commands.labels(target.command, outcome).inc()


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``: the gateway's metrics in the Prometheus text format (metrics:read)."""
    await services_of(request).gate.admit(request, METRICS_POLICY)
    metrics: GatewayMetrics = request.app.state.metrics
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsListenerError(ConfigurationError):
    problem = "metrics-listener"
    title = "Metrics listener"


@contextlib.contextmanager
def metrics_listener(registry: CollectorRegistry, host: str, port: int | None) -> Iterator[None]:
    """``registry`` served without authentication on ``host:port`` for the block (None: off).

    prometheus-client's own server, in a thread of this process, as the worker's.
    A port that cannot be had stops the gateway: the operator asked for it.
    """
    if port is None:
        yield
        return
    try:
        server, thread = start_http_server(port, host, registry=registry)
    except OSError as e:
        raise MetricsListenerError(
            f"HOOKLINE_METRICS_PORT={port}: cannot listen on {host}:{port} ({e})"
        ) from e
    log.info("gateway metrics without authentication on http://%s:%d/metrics", host, port)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(_LISTENER_STOP_S)
