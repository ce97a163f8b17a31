"""The attempt ledger in Redis: what a login throttle decides from, shared by every worker."""

from __future__ import annotations

import uuid
from typing import cast

import pytest
import redis

from core import keys
from core.security.attempts import AttemptLedger


@pytest.fixture
def subject() -> str:
    return uuid.uuid4().hex


def test_each_attempt_sees_the_ones_before_it(client: redis.Redis, subject: str) -> None:
    """Noting returns the earlier attempts' times, oldest first, not the one noted."""
    ledger = AttemptLedger(client)
    assert ledger.note(subject, "a", 100.0, window_s=60, keep=10) == []
    assert ledger.note(subject, "b", 101.0, window_s=60, keep=10) == [100.0]
    assert ledger.note(subject, "c", 102.0, window_s=60, keep=10) == [100.0, 101.0]


def test_a_redelivered_attempt_counts_once(client: redis.Redis, subject: str) -> None:
    """The same attempt id noted again (a redelivered command) is still one attempt."""
    ledger = AttemptLedger(client)
    ledger.note(subject, "a", 100.0, window_s=60, keep=10)
    assert ledger.note(subject, "a", 100.5, window_s=60, keep=10) == []
    assert ledger.note(subject, "b", 101.0, window_s=60, keep=10) == [100.5]


def test_old_attempts_drop_out_and_only_the_latest_are_kept(
    client: redis.Redis, subject: str
) -> None:
    """Attempts older than the window are gone; past ``keep`` the oldest go first."""
    ledger = AttemptLedger(client)
    for n in range(5):
        ledger.note(subject, f"a{n}", 100.0 + n, window_s=60, keep=3)
    assert ledger.note(subject, "late", 162.5, window_s=60, keep=3) == [103.0, 104.0]
    assert 0 < cast(int, client.ttl(keys.attempts(subject))) <= 60


def test_clear_forgets_the_subject(client: redis.Redis, subject: str) -> None:
    """After a success nothing of the earlier failures is left."""
    ledger = AttemptLedger(client)
    ledger.note(subject, "a", 100.0, window_s=60, keep=10)
    ledger.clear(subject)
    assert not client.exists(keys.attempts(subject))
    assert ledger.note(subject, "b", 101.0, window_s=60, keep=10) == []
