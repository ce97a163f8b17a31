"""``GET /commands/{id}/stream``: a command's progress as Server-Sent Events.

Events, in order: ``status`` whenever the status changes (the first one is the
status when the stream opens), ``hook`` for each hook run as it is recorded (in
execution order), and a final ``done`` carrying the whole command document once
the command is terminal and every hook it caused has run; then the stream ends.
Wake-ups come from the gateway's one pub/sub subscription (``CommandWatcher``);
a re-read every ``wait_recheck_s`` covers a lost message, and a comment line
keeps idle connections open through proxies. A stream is one of the caller's
open waits (``api_gateway.waits``): taken before the stream starts, so one too
many is a 429, and given back when the stream ends, however it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from api_gateway.commands import COMMAND_DOCUMENT_POLICY, readable_document, services_of
from api_gateway.handover import hand_over, is_submitter
from api_gateway.services import GatewayServices
from api_gateway.waits import WaitSlot
from core.command_state import CommandDocument
from events import CommandStatus

EVENT_STREAM = "text/event-stream"
KEEPALIVE_INTERVAL_S = 15.0
KEEPALIVE = ": keep-alive\n\n"


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    """One Server-Sent Event; ``data`` is sent as a single line of JSON."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@dataclass
class _Progress:
    """What the client has been sent so far, and when it was last sent anything."""

    status: str | None = None
    hooks_sent: int = 0
    sequence: int = 0
    last_sent: float = field(default_factory=time.monotonic)

    def changes(self, document: CommandDocument) -> list[str]:
        """The events that bring the client from what it saw to ``document``."""
        out: list[str] = []
        if document.status != self.status:
            self.status = document.status
            out.append(self._next("status", _status_data(document)))
        for run in document.hooks[self.hooks_sent :]:
            out.append(self._next("hook", run.model_dump(mode="json")))
        self.hooks_sent = len(document.hooks)
        if document.is_done:
            out.append(self._next("done", document.public()))
        return out

    def _next(self, event: str, data: Any) -> str:
        self.sequence += 1
        self.last_sent = time.monotonic()
        return sse(event, data, self.sequence)

    async def until_change(self, changed: asyncio.Event, recheck_s: float) -> AsyncIterator[str]:
        """Keep-alives while the command stays as it was sent; ends on a change, or after
        ``recheck_s`` (a lost wake-up costs that much latency at most)."""
        recheck_at = time.monotonic() + recheck_s
        while not changed.is_set() and (now := time.monotonic()) < recheck_at:
            if now - self.last_sent >= KEEPALIVE_INTERVAL_S:
                self.last_sent = now
                yield KEEPALIVE
            quiet_s = min(recheck_at, self.last_sent + KEEPALIVE_INTERVAL_S) - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), quiet_s)


class StatusChange(BaseModel):
    """The data of a ``status`` event."""

    command_id: str
    name: str
    status: CommandStatus
    attempts: int
    hooks_pending: int


def _status_data(document: CommandDocument) -> dict[str, Any]:
    change = StatusChange(
        command_id=document.command_id,
        name=document.name,
        status=document.status,
        attempts=document.attempts,
        hooks_pending=document.hooks_pending,
    )
    return change.model_dump(mode="json")


async def command_stream(request: Request) -> Response:
    """Stream the command's changes to its owner (or an admin) until it is done."""
    services = services_of(request)
    caller = await services.gate.admit(request, COMMAND_DOCUMENT_POLICY)
    document = await readable_document(request, caller.actor)
    submitter = is_submitter(caller.actor, request, document)
    slot = services.waits.take(caller.identity)
    return _HeldStream(
        _events(services, document.command_id, submitter),
        slot,
        media_type=EVENT_STREAM,
        # no-store: the submitter's "done" event may carry the result's secrets.
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


class _HeldStream(StreamingResponse):
    """A stream that gives its open wait back once it is over: done, disconnected, failed,
    or never started (the client went away before the first byte)."""

    def __init__(self, events: AsyncGenerator[str, None], slot: WaitSlot, **kwargs: Any) -> None:
        super().__init__(events, **kwargs)
        self._events = events
        self._slot = slot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slot.release()
            await self._events.aclose()  # its watch ends now, not when it is collected


async def _events(
    services: GatewayServices, command_id: str, submitter: bool
) -> AsyncGenerator[str, None]:
    """The command's changes; its submitter's ``done`` event hands the secrets over."""
    progress = _Progress()
    recheck_s = services.settings.wait_recheck_s
    async with services.watcher.watch(command_id) as changed:
        while True:
            changed.clear()
            document = await services.state.read(command_id)
            if document is None:  # expired while streaming
                yield sse("gone", {"command_id": command_id})
                return
            if document.is_done and submitter:
                document = await hand_over(services, document)
            for event in progress.changes(document):
                yield event
            if document.is_done:
                return
            async for keepalive in progress.until_change(changed, recheck_s):
                yield keepalive
