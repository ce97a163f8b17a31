"""Command ids: UUIDv7, time-ordered, telling when they were made."""

from __future__ import annotations

import time
import uuid

from events import command_id_floor, command_id_time, is_id, new_command_id, new_id


def test_command_ids_are_uuid7_in_the_shape_of_every_id() -> None:
    """32 lowercase hex digits (``is_id``), version 7, RFC 9562 variant, all distinct."""
    ids = [new_command_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for command_id in ids:
        parsed = uuid.UUID(command_id)
        assert is_id(command_id) and parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


def test_a_command_id_tells_when_it_was_made_and_sorts_by_it() -> None:
    """Its time is now to the millisecond; later ids sort after earlier ones, and after
    the floor of any earlier moment."""
    before = time.time()
    first = new_command_id()
    time.sleep(0.002)
    second = new_command_id()
    made = command_id_time(first)
    assert made is not None and before - 0.001 <= made <= time.time()
    assert first < second
    assert command_id_floor(before - 1) < first
    assert command_id_floor(time.time() + 1) > second


def test_other_ids_tell_no_time() -> None:
    """A random (v4) id, as commands had before, or any other string: no time."""
    assert command_id_time(new_id()) is None
    assert command_id_time("x" * 32) is None
