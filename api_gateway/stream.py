"""``GET /commands/{id}/stream``: a command's progress as Server-Sent Events.

Events, in order: ``status`` whenever the status changes (the first one is the
status when the stream opens), ``hook`` for each hook run as it is recorded (in
execution order), and a final ``done`` carrying the whole command document once
the command is terminal and every hook it caused has run; then the stream ends.
Wake-ups come from the gateway's one pub/sub subscription (``CommandWatcher``);
a periodic re-read covers a lost message, and a comment line keeps idle
connections open through proxies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from api_gateway.commands import (
    COMMAND_DOCUMENT_POLICY,
    RECHECK_INTERVAL_S,
    readable_document,
    services_of,
)
from api_gateway.handover import hand_over, is_submitter
from api_gateway.services import GatewayServices
from core.command_state import CommandDocument
from events import CommandStatus

EVENT_STREAM = "text/event-stream"
KEEPALIVE_INTERVAL_S = 15.0


def sse(event: str, data: Any, event_id: int | None = None) -> str:
    """One Server-Sent Event; ``data`` is sent as a single line of JSON."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@dataclass
class _Progress:
    """What the client has been sent so far."""

    status: str | None = None
    hooks_sent: int = 0
    sequence: int = 0

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
        return sse(event, data, self.sequence)


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
    return StreamingResponse(
        _events(services, document.command_id, submitter),
        media_type=EVENT_STREAM,
        # no-store: the submitter's "done" event may carry the result's secrets.
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _events(
    services: GatewayServices, command_id: str, submitter: bool
) -> AsyncIterator[str]:
    """The command's changes; its submitter's ``done`` event hands the secrets over."""
    progress = _Progress()
    async with services.watcher.watch(command_id) as changed:
        last_sent = time.monotonic()
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
                last_sent = time.monotonic()
            if document.is_done:
                return
            if time.monotonic() - last_sent >= KEEPALIVE_INTERVAL_S:
                yield ": keep-alive\n\n"
                last_sent = time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), RECHECK_INTERVAL_S)
