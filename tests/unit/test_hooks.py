"""The hook registry: dispatch order and registration checks."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pydantic import BaseModel

from events import (
    WILDCARD,
    Event,
    EventCatalogue,
    EventSink,
    EventSpec,
    HookRegistry,
    Received,
    hook_run_id,
)
from events.errors import RegistrationError
from events.hooks import RunSink


class Payload(BaseModel):
    n: int = 0


def noop(event: Received[Payload], sink: EventSink) -> None:
    """A handler that does nothing."""


def any_event(event: Received[BaseModel], sink: EventSink) -> None:
    """A wildcard handler: it takes every event's model."""


@pytest.fixture
def registry() -> HookRegistry:
    return HookRegistry(
        EventCatalogue((EventSpec("thing_done", Payload), EventSpec("other", Payload)))
    )


def register(registry: HookRegistry, module: str, priority: int, event: str = "thing_done") -> None:
    registry.register(event, noop, module=module, handler_name="on_it", priority=priority)


def test_lower_priority_runs_first(registry: HookRegistry) -> None:
    """Hooks come out sorted by priority, lowest first, whatever the registration order."""
    register(registry, "late", 50)
    register(registry, "early", 5)
    register(registry, "middle", 10)
    assert [h.module for h in registry.hooks_for("thing_done")] == ["early", "middle", "late"]


def test_ties_keep_registration_order(registry: HookRegistry) -> None:
    """Equal priorities run in the order the modules registered (their load order)."""
    for module in ("b_second", "a_first", "c_third"):
        register(registry, module, 10)
    assert [h.module for h in registry.hooks_for("thing_done")] == [
        "b_second",
        "a_first",
        "c_third",
    ]


def test_wildcard_hooks_merge_by_priority(registry: HookRegistry) -> None:
    """A ``*`` hook runs for every event, placed among the specific hooks by its priority."""
    registry.register(WILDCARD, any_event, module="audit", handler_name="record", priority=100)
    register(registry, "wallet", 10)
    register(registry, "notes", 200)
    assert [h.module for h in registry.hooks_for("thing_done")] == ["wallet", "audit", "notes"]
    assert [h.module for h in registry.hooks_for("other")] == ["audit"]


def test_order_is_recomputed_after_a_new_registration(registry: HookRegistry) -> None:
    """The cached order does not hide a hook registered later."""
    register(registry, "first", 10)
    assert len(registry.hooks_for("thing_done")) == 1
    register(registry, "zeroth", 1)
    assert [h.module for h in registry.hooks_for("thing_done")] == ["zeroth", "first"]


def test_unknown_event_is_refused_naming_it(registry: HookRegistry) -> None:
    """A hook for an event nobody declares stops registration, naming the event and the hook."""
    with pytest.raises(RegistrationError, match=r"wallet\.on_it.*unknown event 'user_craeted'"):
        register(registry, "wallet", 10, event="user_craeted")


@pytest.mark.parametrize("priority", [True, "10", 1.5, -1, 1001, None])
def test_bad_priority_is_refused(registry: HookRegistry, priority: object) -> None:
    """Priorities are integers in 0..1000; anything else stops registration."""
    with pytest.raises(RegistrationError, match="priority"):
        registry.register("thing_done", noop, module="m", handler_name="h", priority=priority)  # type: ignore[arg-type]


def test_missing_handler_is_refused(registry: HookRegistry) -> None:
    """A handler that is not callable is refused at registration."""
    with pytest.raises(RegistrationError, match="not callable"):
        registry.register("thing_done", None, module="m", handler_name="h")  # type: ignore[arg-type]


def test_the_same_hook_twice_is_refused(registry: HookRegistry) -> None:
    """Registering one handler twice for one event is a mistake, not a double run."""
    register(registry, "m", 10)
    with pytest.raises(RegistrationError, match="twice"):
        register(registry, "m", 20)


def test_dispatch_calls_hooks_in_order_with_the_sink(registry: HookRegistry) -> None:
    """dispatch runs the event's own and `*` hooks in priority order, handing each the sink
    with the run id of that hook on that event."""
    calls: list[tuple[str, str, object]] = []

    def recorder(name: str) -> Callable[[Received[BaseModel], EventSink], None]:
        def handler(event: Received[BaseModel], sink: EventSink) -> None:
            calls.append((name, event.name, sink))

        return handler

    for name, event_name, priority in [
        ("b", "thing_done", 20),
        ("a", "thing_done", 5),
        ("w", WILDCARD, 10),
    ]:
        registry.register(
            event_name, recorder(name), module=name, handler_name="on_it", priority=priority
        )
    registry.register("other", recorder("x"), module="x", handler_name="on_it")
    sink = object()
    event = Event(id="e1", name="thing_done", correlation_id="c", causation_id="c", command_id="c")
    registry.dispatch(event, sink)  # type: ignore[arg-type]
    assert calls == [
        ("a", "thing_done", RunSink(sink, hook_run_id("e1", "a.on_it"))),  # type: ignore[arg-type]
        ("w", "thing_done", RunSink(sink, hook_run_id("e1", "w.on_it"))),  # type: ignore[arg-type]
        ("b", "thing_done", RunSink(sink, hook_run_id("e1", "b.on_it"))),  # type: ignore[arg-type]
    ]
