"""What a command handler or a hook handler gets: its cause, and a way to emit events.

Event ids derive from the cause and the event's position, so a redelivered
command or a retried hook emits the very same events, which downstream hooks
recognise as already handled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from core import tracing
from events import (
    Actor,
    Command,
    Event,
    EventCatalogue,
    HooklineError,
    HookRunId,
    hook_run_id,
    utc_now,
)


class EventDepthExceeded(HooklineError):
    problem = "event-depth-exceeded"
    title = "Too many follow-up events"


@dataclass
class Emitter:
    """Collects the events a handler emits; they are published after the handler returns."""

    catalogue: EventCatalogue
    cause_id: str
    correlation_id: str
    command_id: str
    depth: int
    max_depth: int
    events: list[Event] = field(default_factory=list)

    def emit(self, name: str, payload: object) -> Event:
        if self.depth > self.max_depth:
            raise EventDepthExceeded(f"event {name!r} would exceed depth {self.max_depth}")
        event = Event(
            id=Event.derive_id(self.cause_id, len(self.events)),
            name=name,
            payload=self.catalogue.validate_payload(name, payload),  # type: ignore[arg-type]
            correlation_id=self.correlation_id,
            causation_id=self.cause_id,
            command_id=self.command_id,
            depth=self.depth,
            version=self.catalogue[name].version,
            traceparent=tracing.traceparent(),
        )
        self.events.append(event)
        return event


class StopRequested(HooklineError):
    """Raised by ``CommandContext.checkpoint`` when the command was cancelled while it ran;
    the runtime records it ``cancelled`` and publishes none of its events."""


def _never() -> bool:
    return False


@dataclass
class CommandContext(Emitter):
    command: Command = field(kw_only=True)
    now: datetime = field(default_factory=utc_now, kw_only=True)
    # Whether a cancel was asked for (``POST /commands/{id}/cancel`` on a cancellable route).
    cancel_requested: Callable[[], bool] = field(default=_never, kw_only=True, repr=False)

    @property
    def actor(self) -> Actor:
        return self.command.actor

    def checkpoint(self) -> None:
        """A place where the handler may stop: raises ``StopRequested`` if the command was
        cancelled meanwhile. Call it between steps of a long handler of a ``cancellable``
        route, before anything it cannot take back (it costs a Redis read)."""
        if self.cancel_requested():
            raise StopRequested(f"command {self.command.id} was cancelled while it ran")

    @classmethod
    def for_command(
        cls,
        command: Command,
        catalogue: EventCatalogue,
        max_depth: int,
        cancel_requested: Callable[[], bool] = _never,
    ) -> CommandContext:
        return cls(
            catalogue=catalogue,
            cause_id=command.id,
            correlation_id=command.correlation_id,
            command_id=command.id,
            depth=0,
            max_depth=max_depth,
            command=command,
            cancel_requested=cancel_requested,
        )


@dataclass
class HookContext(Emitter):
    """A hook run's sink: its events are caused by the run, and ``run_id`` keys its writes."""

    event: Event = field(kw_only=True)

    @property
    def run_id(self) -> HookRunId:
        return HookRunId(self.cause_id)

    @classmethod
    def for_hook(
        cls, event: Event, hook_key: str, catalogue: EventCatalogue, max_depth: int
    ) -> HookContext:
        return cls(
            catalogue=catalogue,
            cause_id=hook_run_id(event.id, hook_key),
            correlation_id=event.correlation_id,
            command_id=event.command_id,
            depth=event.depth + 1,
            max_depth=max_depth,
            event=event,
        )
