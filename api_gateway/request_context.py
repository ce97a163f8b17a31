"""Per-request log context: a correlation id for every request, echoed in the response.

The id comes from the caller's ``X-Correlation-Id`` (trimmed) or is made here;
commands the request submits carry it, so one id follows a request through the
gateway, the broker, the worker and every hook it causes.
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.logs import command_id, correlation_id
from events import new_id

CORRELATION_HEADER = "x-correlation-id"
MAX_CORRELATION_CHARS = 128


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get(CORRELATION_HEADER, "")[:MAX_CORRELATION_CHARS]
        correlation = given if given.isprintable() and given.strip() else new_id()
        correlation_id.set(correlation)
        command_id.set(None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).setdefault(CORRELATION_HEADER, correlation)
            await send(message)

        await self.app(scope, receive, send_with_id)
