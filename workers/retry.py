"""The retry policy: which failures get another try, how many, and after how long.

One policy serves the command tasks and every hook. A failure is *transient*
when a store or the broker did not answer (or the code said so by raising
``Transient``): such failures usually heal, so they get many tries spread out
over minutes. Anything else is *poison*: the same input will likely fail the
same way, so it gets a few tries and then a dead letter.

Waits grow exponentially with "equal jitter": half of each wait is fixed, half
random. The fixed half keeps the tries spread over an outage; the random half
keeps workers that failed together from coming back together.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import kombu.exceptions
import pymongo.errors
import redis.exceptions
from celery.exceptions import SoftTimeLimitExceeded

from core.settings import Settings
from events import FailureKind, Transient

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    Transient,
    # AutoReconnect, NetworkTimeout and ServerSelectionTimeoutError are ConnectionFailures.
    pymongo.errors.ConnectionFailure,
    pymongo.errors.ExecutionTimeout,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
    ConnectionError,
    TimeoutError,
    # The soft time limit: the task ran too long, most often waiting on a slow store.
    SoftTimeLimitExceeded,
)


def classify(error: BaseException) -> FailureKind:
    """Transient when a dependency did not answer; poison otherwise."""
    return FailureKind.TRANSIENT if isinstance(error, TRANSIENT_ERRORS) else FailureKind.POISON


@dataclass(frozen=True)
class RetryDecision:
    """What to do after try number ``attempt`` failed."""

    failure: FailureKind
    attempt: int
    retry: bool
    countdown_s: float = 0.0

    @property
    def next_attempt(self) -> int:
        return self.attempt + 1


@dataclass(frozen=True)
class RetryPolicy:
    transient_retries: int
    poison_retries: int
    backoff_base_s: float
    backoff_max_s: float

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            transient_retries=settings.transient_max_retries,
            poison_retries=settings.poison_max_retries,
            backoff_base_s=settings.retry_backoff_base_s,
            backoff_max_s=settings.retry_backoff_max_s,
        )

    def retries_for(self, failure: FailureKind) -> int:
        return self.transient_retries if failure is FailureKind.TRANSIENT else self.poison_retries

    def decide(
        self, error: BaseException, attempt: int, rng: Callable[[], float] = random.random
    ) -> RetryDecision:
        """After try ``attempt`` (1 for the first) failed with ``error``: again, or give up.

        A try is followed by another while ``attempt`` is at most the retries allowed for
        this failure's kind, so a work item gets at most retries + 1 tries.
        """
        failure = classify(error)
        if attempt > self.retries_for(failure):
            return RetryDecision(failure, attempt, retry=False)
        return RetryDecision(failure, attempt, retry=True, countdown_s=self.backoff_s(attempt, rng))

    def backoff_s(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """The wait after try ``attempt``: base·2^(attempt-1), capped, half of it jittered."""
        growth: float = 2.0 ** min(attempt - 1, 32)
        ceiling = min(self.backoff_max_s, self.backoff_base_s * growth)
        return ceiling / 2 + rng() * ceiling / 2
