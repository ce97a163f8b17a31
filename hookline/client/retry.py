"""When the client sends a request again: the one retry policy both clients follow.

Every request the client makes is safe to repeat: reads, cancels, and submits, which
always carry an Idempotency-Key, so a command sent twice runs once and the second
answer is its replay. A request is sent again after a transport error (the connection
failed or broke, the answer did not come in time), and a submit also after ``409``
for its key (the first request is still in flight: come back after ``Retry-After``).
Everything else is the answer.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

import httpx

from hookline.client.errors import KEY_IN_USE_TYPE, ConnectionFailed, InvalidArgument
from hookline.client.wire import IDEMPOTENCY_HEADER, retry_after_s

DEFAULT_RETRIES = 3
BACKOFF_BASE_S = 0.25
BACKOFF_MAX_S = 4.0


@dataclass(frozen=True)
class RetryPolicy:
    """``retries`` more tries after the first, waiting base·2^(n-1) (capped, half
    jittered) between them, or as long as ``Retry-After`` says if that is longer."""

    retries: int = DEFAULT_RETRIES
    backoff_base_s: float = BACKOFF_BASE_S
    backoff_max_s: float = BACKOFF_MAX_S

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise InvalidArgument(f"retries must be 0 or more, not {self.retries}")

    def start(self, deadline: float | None = None) -> Attempts:
        """The tries of one request; none starts after ``deadline`` (``time.monotonic``)."""
        return Attempts(self, deadline)

    def backoff_s(self, retry: int) -> float:
        full = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** (retry - 1))
        return full / 2 + random.uniform(0, full / 2)


class Attempts:
    """The tries of one request: each answer or error says whether, and after how long, to
    send it again."""

    def __init__(self, policy: RetryPolicy, deadline: float | None = None) -> None:
        self.policy = policy
        self.deadline = deadline
        self.retries = 0

    def after_error(self, error: httpx.TransportError) -> float:
        """The pause before the next try; ``ConnectionFailed`` when none is left."""
        pause = self._next()
        if pause is None:
            tries = self.retries + 1
            raise ConnectionFailed(
                f"{error.request.method} {error.request.url} failed after {tries} "
                f"tr{'y' if tries == 1 else 'ies'}: {type(error).__name__}: {error}"
            ) from error
        return pause

    def after_response(self, response: httpx.Response) -> float | None:
        """None when ``response`` is the answer; else the pause before the next try."""
        if not _key_in_use(response):
            return None
        return self._next(float(retry_after_s(response) or 0))

    def _next(self, at_least_s: float = 0.0) -> float | None:
        """The pause before one more try, or None when no try is left before the deadline."""
        if self.retries >= self.policy.retries:
            return None
        pause = max(at_least_s, self.policy.backoff_s(self.retries + 1))
        if self.deadline is not None and time.monotonic() + pause >= self.deadline:
            return None
        self.retries += 1
        return pause


def _key_in_use(response: httpx.Response) -> bool:
    if response.status_code != 409 or IDEMPOTENCY_HEADER not in response.request.headers:
        return False
    try:
        return bool(response.json().get("type") == KEY_IN_USE_TYPE)
    except (ValueError, AttributeError):
        return False
