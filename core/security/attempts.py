"""Attempts per subject in Redis, for limits that hold across every worker (failed logins).

``limits`` counts hits in fixed or sliding windows; a lock-out whose delay
doubles with each failure needs the failure times themselves, so they are kept
here, as a sorted set per subject: member the attempt's command id (a
redelivered command notes itself once), score its time. Noting an attempt
returns the ones before it in the same transaction, so two workers racing on
one subject each see the other's attempt: the decision (what the times mean) is
the caller's, pure.
"""

from __future__ import annotations

import redis

from core import keys


class AttemptLedger:
    """The recent attempts of each subject, shared by every process on one Redis."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def note(
        self, subject: str, attempt_id: str, at: float, window_s: int, keep: int
    ) -> list[float]:
        """Note ``attempt_id`` at ``at`` (epoch s); the times of the subject's earlier attempts
        within ``window_s``, oldest first. Only the latest ``keep`` are remembered."""
        key = keys.attempts(subject)
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", at - window_s)
            pipe.zrange(key, 0, -1, withscores=True)
            pipe.zadd(key, {attempt_id: at})
            pipe.zremrangebyrank(key, 0, -keep - 1)
            pipe.expire(key, window_s)
            _, earlier, *_ = pipe.execute()
        return [score for member, score in earlier if _text(member) != attempt_id]

    def clear(self, subject: str) -> None:
        """Forget the subject's attempts (a login succeeded)."""
        self._redis.delete(keys.attempts(subject))


def _text(member: bytes | str) -> str:
    return member.decode() if isinstance(member, bytes) else member
