"""The hook registry: which handlers run for an event, and in which order.

Order is by priority (lower first), then by registration order, which the
bootstrap makes equal to module load order. Registration is validated so a
wrong hook stops startup instead of failing at dispatch.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NewType, Protocol

from events.catalogue import WILDCARD, EventCatalogue
from events.envelopes import Event
from events.errors import RegistrationError

DEFAULT_PRIORITY = 10
MIN_PRIORITY = 0
MAX_PRIORITY = 1000


class EventSink(Protocol):
    """Where a handler sends the events it causes."""

    def emit(self, name: str, payload: object) -> Event: ...


HookRunId = NewType("HookRunId", str)


def hook_run_id(event_id: str, hook_key: str) -> HookRunId:
    """The id of one hook's run on one event: the idempotency key of everything it writes.

    Formatted here and nowhere else. Every try and every delivery of the same
    (event, hook) has the same run id; the completion record, the pending-set
    member of a retry, the cause of the run's own events and the keys of the
    hook's writes are all made from it.
    """
    return HookRunId(f"{event_id}/{hook_key}")


class HookSink(EventSink, Protocol):
    """What a hook handler gets: a way to emit events, and the run id to key its writes by."""

    @property
    def run_id(self) -> HookRunId: ...


HookHandler = Callable[[Event, HookSink], None]


@dataclass(frozen=True)
class RunSink:
    """A sink for one hook run outside a worker (``HookRegistry.dispatch``): the run id added."""

    sink: EventSink
    run_id: HookRunId

    def emit(self, name: str, payload: object) -> Event:
        return self.sink.emit(name, payload)


@dataclass(frozen=True)
class RegisteredHook:
    """One handler bound to one event name."""

    event: str
    module: str
    handler_name: str
    handler: HookHandler = field(compare=False, repr=False)
    priority: int = DEFAULT_PRIORITY
    context: str = ""
    critical: bool = False
    sequence: int = 0

    @property
    def key(self) -> str:
        """A stable name for this hook, used in completion records and traces."""
        return f"{self.module}.{self.handler_name}"

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.priority, self.sequence)


def check_priority(priority: object, where: str) -> int:
    """Return ``priority`` if it is an int in range, else raise naming ``where``."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise RegistrationError(f"{where}: priority must be an integer, got {priority!r}")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise RegistrationError(
            f"{where}: priority {priority} is outside {MIN_PRIORITY}..{MAX_PRIORITY}"
        )
    return priority


class HookRegistry:
    """Holds hooks by event name and hands them out in dispatch order."""

    def __init__(self, catalogue: EventCatalogue) -> None:
        self.catalogue = catalogue
        self._hooks: list[RegisteredHook] = []
        self._sequence = itertools.count()
        self._ordered: dict[str, tuple[RegisteredHook, ...]] = {}

    def register(
        self,
        event: str,
        handler: HookHandler,
        *,
        module: str,
        handler_name: str,
        priority: int = DEFAULT_PRIORITY,
        context: str = "",
        critical: bool = False,
    ) -> RegisteredHook:
        where = f"hook {module}.{handler_name} for {event!r}"
        if event != WILDCARD and event not in self.catalogue:
            raise RegistrationError(f"{where}: unknown event {event!r}")
        if not callable(handler):
            raise RegistrationError(f"{where}: handler is not callable")
        if any(h.event == event and h.key == f"{module}.{handler_name}" for h in self._hooks):
            raise RegistrationError(f"{where}: registered twice")
        hook = RegisteredHook(
            event=event,
            module=module,
            handler_name=handler_name,
            handler=handler,
            priority=check_priority(priority, where),
            context=context,
            critical=critical,
            sequence=next(self._sequence),
        )
        self._hooks.append(hook)
        self._ordered.clear()
        return hook

    def hooks_for(self, event: str) -> tuple[RegisteredHook, ...]:
        """Every hook for ``event`` (its own and the ``*`` ones) in dispatch order."""
        ordered = self._ordered.get(event)
        if ordered is None:
            matching = (h for h in self._hooks if h.event in (event, WILDCARD))
            ordered = tuple(sorted(matching, key=lambda h: h.sort_key))
            self._ordered[event] = ordered
        return ordered

    def dispatch(self, event: Event, sink: EventSink) -> None:
        """Call every hook for ``event`` in dispatch order, in this process; errors propagate.

        No ledger, no retries: what a module's unit test (or a benchmark) needs. The
        worker runtime adds completion records and isolation around the same order.
        """
        for hook in self.hooks_for(event.name):
            hook.handler(event, RunSink(sink, hook_run_id(event.id, hook.key)))

    def table(self) -> dict[str, tuple[RegisteredHook, ...]]:
        """Every catalogued event with its hooks in dispatch order."""
        return {name: self.hooks_for(name) for name in self.catalogue}

    def __len__(self) -> int:
        return len(self._hooks)
