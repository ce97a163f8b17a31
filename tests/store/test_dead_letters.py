"""The dead-letter store against MongoDB (or the embedded server): every shape it sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.database import Database

from events import (
    Conflict,
    DeadLetter,
    DeadLetterKind,
    DeadLetterQuery,
    DeadLetterStatus,
    FailureKind,
    NotFound,
)
from workers.dead_letters import DeadLetterStore

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def letter(n: int, attempts: int = 4) -> DeadLetter:
    return DeadLetter(
        id=DeadLetter.command_letter_id(f"c{n}"),
        kind=DeadLetterKind.COMMAND,
        name="wallet.deposit",
        command_id=f"c{n}",
        envelope={"id": f"c{n}", "name": "wallet.deposit"},
        error="TypeError: boom",
        failure=FailureKind.POISON,
        attempts=attempts,
        dead_at=T0 + timedelta(minutes=n),
    )


@pytest.fixture
def letters(mongo_db: Database[dict[str, Any]]) -> DeadLetterStore:
    store = DeadLetterStore(mongo_db)
    store.ensure_indexes()
    return store


def test_a_letter_buried_twice_keeps_its_replay_count(letters: DeadLetterStore) -> None:
    """Dying again after a replay updates the same letter: dead, new tries, replays kept."""
    letters.bury(letter(1))
    assert letters.start_replay("command:c1").replays == 1
    letters.bury(letter(1, attempts=2))
    found = letters.get("command:c1")
    assert (found.status, found.attempts, found.replays) == (DeadLetterStatus.DEAD, 2, 1)
    assert found.replayed_at is not None and found.resolved_at is None


def test_replaying_a_resolved_letter_is_a_conflict(letters: DeadLetterStore) -> None:
    """dead → replaying → resolved; then replay is refused, and unknown ids are NotFound."""
    letters.bury(letter(1))
    letters.start_replay("command:c1")
    letters.start_replay("command:c1")  # a replay that got lost may be sent again
    letters.resolve("command:c1")
    assert letters.get("command:c1").status is DeadLetterStatus.RESOLVED
    with pytest.raises(Conflict):
        letters.start_replay("command:c1")
    with pytest.raises(NotFound):
        letters.start_replay("command:nope")


def test_list_is_newest_first_filtered_and_paged(letters: DeadLetterStore) -> None:
    """Newest first; status filter; ``before`` continues after the last letter seen."""
    for n in range(5):
        letters.bury(letter(n))
    letters.start_replay("command:c4")
    dead = letters.list(DeadLetterQuery(status=DeadLetterStatus.DEAD, limit=2))
    assert [x.id for x in dead] == ["command:c3", "command:c2"]
    more = letters.list(DeadLetterQuery(status=DeadLetterStatus.DEAD, before=dead[-1].dead_at))
    assert [x.id for x in more] == ["command:c1", "command:c0"]
    assert len(letters.list(DeadLetterQuery())) == 5


def test_a_purge_deletes_a_letter_unless_it_is_being_replayed(letters: DeadLetterStore) -> None:
    letters.bury(letter(1))
    letters.bury(letter(2))
    letters.start_replay(letter(2).id)
    assert letters.purge(letter(1).id).id == letter(1).id
    with pytest.raises(NotFound):
        letters.get(letter(1).id)
    with pytest.raises(NotFound):
        letters.purge(letter(1).id)
    with pytest.raises(Conflict):
        letters.purge(letter(2).id)
    assert letters.get(letter(2).id).status is DeadLetterStatus.REPLAYING
