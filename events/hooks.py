"""The hook registry: which handlers run for an event, and in which order.

Order is by priority (lower first), then by registration order, which the
bootstrap makes equal to module load order. Registration is validated so a
wrong hook stops startup instead of failing at dispatch.

A handler receives ``Received[P]``: the envelope's fields and its payload as the
event's model ``P``, validated (and upcast to the current version) before the
call. Registration reads the handler's signature, the way pluggy's
``_verify_hook`` checks an implementation against its spec: two positional
parameters, the first annotated ``Received[M]`` where the event's model is ``M``
(or a subclass of it, or of one member of a union ``M1 | M2``). A wildcard hook
sees every event, so it takes ``Received[BaseModel]``: the payload is still the
event's own model, validated, but typed as the base class.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from pydantic import BaseModel

from events.catalogue import WILDCARD, EventCatalogue
from events.envelopes import Event
from events.errors import RegistrationError
from events.hook_ids import HookRunId, hook_key, hook_run_id

DEFAULT_PRIORITY = 10
MIN_PRIORITY = 0
MAX_PRIORITY = 1000


class EventSink(Protocol):
    """Where a handler sends the events it causes."""

    def emit(self, name: str, payload: object) -> Event: ...


class HookSink(EventSink, Protocol):
    """What a hook handler gets: a way to emit events, and the run id to key its writes by."""

    @property
    def run_id(self) -> HookRunId: ...


P_co = TypeVar("P_co", bound=BaseModel, covariant=True)


@dataclass(frozen=True)
class Received(Generic[P_co]):
    """What a hook handler gets for an event: its envelope, and its payload as the model."""

    envelope: Event
    payload: P_co

    @property
    def id(self) -> str:
        return self.envelope.id

    @property
    def name(self) -> str:
        return self.envelope.name

    @property
    def occurred_at(self) -> datetime:
        return self.envelope.occurred_at

    @property
    def correlation_id(self) -> str:
        return self.envelope.correlation_id

    @property
    def command_id(self) -> str:
        return self.envelope.command_id


HookHandler = Callable[[Received[Any], HookSink], None]


def received(catalogue: EventCatalogue, event: Event) -> Received[BaseModel]:
    """``event`` as a handler gets it: its payload validated against the event's model."""
    return Received(event, catalogue.payload_of(event))


def _accepted_models(annotation: object) -> tuple[type, ...] | None:
    """The models a ``Received[...]`` annotation accepts, or None if it is not one."""
    if typing.get_origin(annotation) is not Received:
        return None
    (model,) = typing.get_args(annotation)
    members = typing.get_args(model) if _is_union(model) else (model,)
    return tuple(m for m in members if isinstance(m, type))


def _is_union(annotation: object) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def check_handler(handler: Callable[..., object], model: type[BaseModel], where: str) -> None:
    """Refuse ``handler`` unless it takes ``(Received[model], sink)``; ``where`` names it."""
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError) as e:
        raise RegistrationError(f"{where}: handler has no signature to check ({e})") from e
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required_rest = [
        p
        for p in signature.parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.default is p.empty
    ]
    if len(positional) != 2 or required_rest:
        raise RegistrationError(f"{where}: handler must take (event, sink), it takes {signature}")
    try:
        hints = typing.get_type_hints(handler)
    except Exception as e:  # an annotation naming something the module cannot resolve
        raise RegistrationError(f"{where}: handler annotations do not resolve ({e})") from e
    first = positional[0].name
    accepted = _accepted_models(hints.get(first))
    want = f"Received[{model.__name__}]"
    if accepted is None:
        got = hints.get(first, "nothing")
        raise RegistrationError(f"{where}: parameter {first!r} must be annotated {want}, not {got}")
    if not any(issubclass(model, m) for m in accepted):
        names = " | ".join(m.__name__ for m in accepted)
        raise RegistrationError(
            f"{where}: parameter {first!r} takes Received[{names}], "
            f"but the event's payload is {model.__name__}"
        )


@dataclass(slots=True)  # not frozen: built for every hook of every dispatch, it must be cheap
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

    @functools.cached_property
    def key(self) -> str:
        """A stable name for this hook, used in completion records and traces."""
        return hook_key(self.module, self.handler_name)

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
        check_handler(handler, self._model_of(event), where)
        if any(h.event == event and h.key == hook_key(module, handler_name) for h in self._hooks):
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

    def _model_of(self, event: str) -> type[BaseModel]:
        return BaseModel if event == WILDCARD else self.catalogue[event].payload

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
        delivered = received(self.catalogue, event)
        for hook in self.hooks_for(event.name):
            hook.handler(delivered, RunSink(sink, hook_run_id(event.id, hook.key)))

    def table(self) -> dict[str, tuple[RegisteredHook, ...]]:
        """Every catalogued event with its hooks in dispatch order."""
        return {name: self.hooks_for(name) for name in self.catalogue}

    def __len__(self) -> int:
        return len(self._hooks)
