"""Envelopes and the context that emits events."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from events import Command, EventCatalogue, EventSpec, RegistrationError
from workers.context import CommandContext, EventDepthExceeded, HookContext


class Ping(BaseModel):
    n: int


CATALOGUE = EventCatalogue((EventSpec("ping", Ping),))


def test_event_ids_are_deterministic_per_command_and_position() -> None:
    """Running the same command twice emits events with the same ids, in the same order."""
    command = Command(name="m.do")
    first, second = (CommandContext.for_command(command, CATALOGUE, 4) for _ in range(2))
    for ctx in (first, second):
        ctx.emit("ping", {"n": 1})
        ctx.emit("ping", Ping(n=2))
    assert [e.id for e in first.events] == [e.id for e in second.events]
    assert len({e.id for e in first.events}) == 2
    assert first.events[1].payload == {"n": 2}


def test_payload_is_checked_against_the_catalogue() -> None:
    """An event payload that breaks its model, or an unknown event, is refused on emit."""
    ctx = CommandContext.for_command(Command(name="m.do"), CATALOGUE, 4)
    with pytest.raises(RegistrationError, match="invalid"):
        ctx.emit("ping", {"n": "not a number"})
    with pytest.raises(RegistrationError, match="not in the catalogue"):
        ctx.emit("pong", {})


def test_follow_up_events_are_bounded_in_depth() -> None:
    """A hook chain deeper than the limit is stopped."""
    ctx = CommandContext.for_command(Command(name="m.do"), CATALOGUE, 1)
    event = ctx.emit("ping", {"n": 0})
    hop = HookContext.for_hook(event, "m.on_ping", CATALOGUE, 1)
    deeper = HookContext.for_hook(hop.emit("ping", {"n": 1}), "m.on_ping", CATALOGUE, 1)
    with pytest.raises(EventDepthExceeded):
        deeper.emit("ping", {"n": 2})
