"""Rate limits on Redis with the ``limits`` library: per IP, per user, per API key, per route.

A sliding-window counter per (scope, caller) keeps two counters per limit, so
the cost does not grow with the allowance. A refused hit answers 429 with
``Retry-After``, and counts as a violation towards a ban (``bans.py``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio
from limits import RateLimitItem, parse_many
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from api_gateway.errors import TooManyRequests
from core import keys
from core.settings import Settings
from events import ConfigurationError


def parse_limits(notation: str, where: str) -> tuple[RateLimitItem, ...]:
    """Parsed ``limits`` notation; a wrong one stops start-up naming ``where``."""
    try:
        return tuple(parse_many(notation))
    except ValueError as e:
        raise ConfigurationError(f"{where}: rate limit {notation!r} is invalid: {e}") from e


@dataclass(frozen=True)
class CallerLimits:
    """The limits every request counts against, by kind of caller."""

    per_ip: tuple[RateLimitItem, ...]
    per_user: tuple[RateLimitItem, ...]
    per_api_key: tuple[RateLimitItem, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> CallerLimits:
        return cls(
            per_ip=parse_limits(settings.rate_limit_per_ip, "rate_limit_per_ip"),
            per_user=parse_limits(settings.rate_limit_per_user, "rate_limit_per_user"),
            per_api_key=parse_limits(settings.rate_limit_per_api_key, "rate_limit_per_api_key"),
        )


class RateLimiter:
    """Counts hits in Redis; says how long to wait when a limit is used up."""

    def __init__(self, client: redis.asyncio.Redis, redis_url: str) -> None:
        storage = RedisStorage(
            f"async+{redis_url}",
            implementation="redispy",
            key_prefix=keys.RATE_LIMIT_PREFIX,
            connection_pool=client.connection_pool,  # type: ignore[arg-type]
        )
        self._strategy = SlidingWindowCounterRateLimiter(storage)

    async def hit(self, limits: Sequence[RateLimitItem], scope: str, identity: str) -> None:
        """Count one hit against each limit; ``TooManyRequests`` when one is used up."""
        for item in limits:
            if not await self._strategy.hit(item, scope, identity):
                stats = await self._strategy.get_window_stats(item, scope, identity)
                wait_s = max(1, math.ceil(stats.reset_time - time.time()))
                raise TooManyRequests(
                    f"rate limit of {item} exceeded; retry in {wait_s} s", retry_after_s=wait_s
                )

    async def allows(self, limits: Sequence[RateLimitItem], scope: str, identity: str) -> bool:
        """Count one hit; whether every limit still had room (no exception)."""
        results = [await self._strategy.hit(item, scope, identity) for item in limits]
        return all(results)
