"""The retry policy: which failures are transient, how many tries, how long between them."""

from __future__ import annotations

import kombu.exceptions
import pymongo.errors
import pytest
import redis.exceptions

from events import FailureKind, Transient
from workers.orchestrators.wallet import WalletContention
from workers.retry import RetryPolicy, classify

POLICY = RetryPolicy(transient_retries=5, poison_retries=2, backoff_base_s=1, backoff_max_s=10)


@pytest.mark.parametrize(
    "error",
    [
        pymongo.errors.AutoReconnect("gone"),
        pymongo.errors.ServerSelectionTimeoutError("no server"),
        pymongo.errors.NetworkTimeout("slow"),
        redis.exceptions.ConnectionError("refused"),
        redis.exceptions.TimeoutError("slow"),
        kombu.exceptions.OperationalError("broker down"),
        ConnectionRefusedError(),
        WalletContention("busy wallet"),
        Transient("try later"),
    ],
)
def test_unreachable_stores_and_contention_are_transient(error: Exception) -> None:
    """Store, broker and socket failures, and Transient errors, are classified transient."""
    assert classify(error) is FailureKind.TRANSIENT


@pytest.mark.parametrize(
    "error",
    [
        TypeError("can only concatenate str"),
        KeyError("balance"),
        redis.exceptions.ResponseError("WRONGTYPE"),
        pymongo.errors.DuplicateKeyError("dup"),
    ],
)
def test_everything_else_is_poison(error: Exception) -> None:
    """Bugs, bad data and refusals are poison."""
    assert classify(error) is FailureKind.POISON


@pytest.mark.parametrize(
    ("error", "tries"), [(TypeError("x"), 3), (redis.exceptions.ConnectionError("x"), 6)]
)
def test_a_work_item_gets_retries_plus_one_tries(error: Exception, tries: int) -> None:
    """Tries 1..retries are followed by another; the try after them is the last."""
    decisions = [POLICY.decide(error, attempt) for attempt in range(1, tries + 1)]
    assert [d.retry for d in decisions] == [True] * (tries - 1) + [False]
    assert decisions[-1].attempt == tries and decisions[0].next_attempt == 2


def test_a_poison_failure_late_in_a_transient_streak_gives_up() -> None:
    """The budget is that of the failure at hand: poison on try 4 is past its 2 retries."""
    assert POLICY.decide(redis.exceptions.ConnectionError("x"), 4).retry
    assert not POLICY.decide(TypeError("x"), 4).retry


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 1), (2, 2), (3, 4), (4, 8), (5, 10), (60, 10)]
)
def test_backoff_doubles_up_to_the_cap_with_half_of_it_jittered(
    attempt: int, ceiling: float
) -> None:
    """The wait after try n lies in [c/2, c] with c = base·2^(n-1) capped at the maximum."""
    assert POLICY.backoff_s(attempt, rng=lambda: 0.0) == ceiling / 2
    assert POLICY.backoff_s(attempt, rng=lambda: 1.0) == ceiling


def test_a_retry_decision_carries_its_countdown() -> None:
    """A retry says when; giving up says nothing about waiting."""
    retry = POLICY.decide(TypeError("x"), 2, rng=lambda: 0.5)
    assert retry.retry and retry.countdown_s == 1.5
    assert POLICY.decide(TypeError("x"), 3).countdown_s == 0
