"""The harness's bus delivers as a broker would, on a virtual clock: events first, in the
order published, then retries, earliest due first; nobody sleeps unless told to."""

from __future__ import annotations

from events import Event
from workers.bus import EventBus, InProcessBus, ScheduledRetry


def event(name: str) -> Event:
    return Event(id=name, name=name, correlation_id="c", causation_id="c", command_id="c1")


def test_events_go_first_then_retries_earliest_due_first_and_the_clock_jumps() -> None:
    waits: list[float] = []
    bus = InProcessBus(waits.append)
    typed: EventBus = bus  # the harness's bus is an EventBus, as the Celery one is
    typed.retry_hook(event("a"), "m.late", 2, countdown_s=5.0)
    typed.retry_hook(event("a"), "m.soon", 2, countdown_s=1.5, replay_of="letter")
    typed.publish([event("b"), event("c")])

    delivered = [bus.next() for _ in range(5)]

    assert [d.name for d in delivered[:2] if isinstance(d, Event)] == ["b", "c"]
    retries = [d for d in delivered[2:4] if isinstance(d, ScheduledRetry)]
    assert [(r.hook_key, r.due_s, r.replay_of) for r in retries] == [
        ("m.soon", 1.5, "letter"),
        ("m.late", 5.0, None),
    ]
    assert delivered[4] is None
    assert waits == [1.5, 3.5] and bus.now_s == 5.0
    assert [r.hook_key for r in bus.scheduled] == ["m.late", "m.soon"]


def test_a_retry_scheduled_later_is_due_from_the_clock_of_then() -> None:
    """A retry scheduled after the clock moved is due its countdown after that."""
    bus = InProcessBus()
    bus.retry_hook(event("a"), "m.h", 2, countdown_s=1.0)
    assert isinstance(bus.next(), ScheduledRetry) and bus.now_s == 1.0
    bus.retry_hook(event("a"), "m.h", 3, countdown_s=2.0)
    later = bus.next()
    assert isinstance(later, ScheduledRetry) and later.due_s == 3.0 and bus.now_s == 3.0
