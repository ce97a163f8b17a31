"""Hookline's HTTP API as the client reads it: typed records for every answer.

These duplicate the gateway's own models (``core.command_state``, ``api_gateway.stream``)
on purpose: the client installs without the server, and fields a newer gateway adds are
kept (``extra="allow"``) rather than refused, so an older client still reads it.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class CommandStatus(StrEnum):
    PUBLISHING = "publishing"
    SCHEDULED = "scheduled"
    ACCEPTED = "accepted"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {
        CommandStatus.SUCCEEDED,
        CommandStatus.FAILED,
        CommandStatus.DEAD,
        CommandStatus.REFUSED,
        CommandStatus.CANCELLED,
        CommandStatus.EXPIRED,
    }
)


class _Wire(BaseModel):
    """A body the gateway sent; what this client does not know of it is kept as it came."""

    model_config = ConfigDict(frozen=True, extra="allow")

    def wire(self) -> dict[str, Any]:
        """The fields as the gateway sent them (none this model would default)."""
        return self.model_dump(mode="json", exclude_unset=True)


class ProblemDocument(_Wire):
    """An RFC 9457 problem document; members beyond these are extensions (``errors``…)."""

    type: str = "about:blank"
    title: str = ""
    status: int
    detail: str | None = None
    instance: str | None = None
    retry_after_s: int | None = None


class CommandResult(_Wire):
    status_code: int = 200
    body: Any = None


class HookRun(_Wire):
    """One run of one hook for one event the command caused, in the order they ran; or
    one try of an outbound webhook delivery of such an event (``target`` names it)."""

    event: str
    event_id: str
    module: str
    handler: str
    priority: int
    status: str
    attempts: int
    duration_ms: float
    error: str | None = None
    # ``endpoint_id/webhook-id`` of a webhook delivery's try; None for a hook run.
    target: str | None = None


class CommandSummary(_Wire):
    """A command as ``GET /commands`` lists it."""

    command_id: str
    name: str
    status: CommandStatus
    attempts: int = 0
    submitted_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    not_before: datetime | None = None
    deadline: datetime | None = None


class CommandDocument(CommandSummary):
    """``GET /commands/{id}``: the command, its outcome and the hooks it caused."""

    replays: int = 0
    result: CommandResult | None = None
    error: ProblemDocument | None = None
    hooks: tuple[HookRun, ...] = ()
    hooks_pending: int = 0
    result_redacted: bool = False
    cancel_requested: bool = False
    # The OpenTelemetry trace of its request, when the gateway traces.
    trace_id: str | None = None

    @property
    def is_done(self) -> bool:
        """Finished, and every hook it caused has run."""
        return self.status.is_terminal and self.hooks_pending == 0


class CommandPage(_Wire):
    """One page of ``GET /commands``, newest first; ``next_cursor`` reads the next."""

    items: tuple[CommandSummary, ...] = ()
    next_cursor: str | None = None


class Accepted(BaseModel):
    """``202``: the command is on its way; follow it at ``status_url``.

    ``claim`` is an anonymous command's ``Command-Claim``: the only way to read it, so
    it is a credential (never in a repr). The client keeps it for later calls.
    """

    model_config = ConfigDict(frozen=True)

    command_id: str
    status: CommandStatus
    status_url: str
    claim: str | None = Field(default=None, repr=False)
    replayed: bool = False

    def wire(self) -> dict[str, Any]:
        """The 202 body."""
        return self.model_dump(mode="json", include={"command_id", "status", "status_url"})


class Outcome(BaseModel):
    """The answer of a command that finished within ``wait`` (or of a query): the route's
    status code and body. ``command_id`` comes from ``Location``; a read model served
    from the cache has none."""

    model_config = ConfigDict(frozen=True)

    status_code: int
    body: Any = None
    command_id: str | None = None
    claim: str | None = Field(default=None, repr=False)
    replayed: bool = False


class _Event(_Wire):
    sequence: int | None = None  # the stream's ``id``: 1, 2, … in the order sent


class StatusEvent(_Event):
    """The command's status changed (the first one is its status when the stream opened)."""

    command_id: str
    name: str
    status: CommandStatus
    attempts: int
    hooks_pending: int


class HookEvent(_Event):
    """A hook ran (or was skipped) for an event the command caused."""

    run: HookRun


class DoneEvent(_Event):
    """The last event: the command is terminal and every hook it caused has run."""

    document: CommandDocument


class GoneEvent(_Event):
    """The command expired while it was followed; the stream ends."""

    command_id: str


StreamEvent = StatusEvent | HookEvent | DoneEvent | GoneEvent
