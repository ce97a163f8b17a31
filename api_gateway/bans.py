"""Bans: a caller refused too often within a window is refused outright for a while.

Violations are counted with the same rate limiter (scope ``violations``); the
ban itself is one Redis key with a TTL, so it lifts by itself and its remaining
time is the ``Retry-After`` a banned caller gets.
"""

from __future__ import annotations

import logging

import redis.asyncio
from limits import RateLimitItem

from api_gateway.errors import Banned, TooManyRequests
from api_gateway.rate_limits import RateLimiter
from core import keys

log = logging.getLogger(__name__)

VIOLATIONS_SCOPE = "violations"


class Bans:
    def __init__(
        self,
        client: redis.asyncio.Redis,
        limiter: RateLimiter,
        threshold: tuple[RateLimitItem, ...],
        duration_s: int,
    ) -> None:
        self._redis = client
        self._limiter = limiter
        self._threshold = threshold
        self._duration_s = duration_s

    async def check(self, identity: str) -> None:
        """Raise ``Banned`` while ``identity`` is banned."""
        remaining_s = await self._redis.ttl(keys.ban(identity))
        if remaining_s > 0:
            raise Banned(
                f"too many refused requests; banned for {remaining_s} s", retry_after_s=remaining_s
            )

    async def violated(self, identity: str, refusal: TooManyRequests) -> TooManyRequests:
        """Count a refusal; the error to raise: ``Banned`` once there were too many."""
        if await self._limiter.allows(self._threshold, VIOLATIONS_SCOPE, identity):
            return refusal
        await self._redis.set(keys.ban(identity), "1", ex=self._duration_s)
        log.warning("banned %s for %d s", identity, self._duration_s)
        return Banned(
            f"too many refused requests; banned for {self._duration_s} s",
            retry_after_s=self._duration_s,
        )
