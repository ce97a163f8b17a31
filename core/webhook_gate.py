"""Per-endpoint limits on outbound webhook tries: at most N in flight, at most a rate.

A try that finds its endpoint's slots full, or its rate used up, does not wait: the
delivery goes back to its schedule a moment later and the worker takes other work, so a
slow or dead endpoint holds at most its own slots and never the tries of other endpoints.

Slots are a sorted set per endpoint, each member a delivery id scored by when its slot
lapses (a worker that dies mid-try frees its slot by then); the rate limit is the
``limits`` library's sliding window in Redis, under the gateway's rate-limit prefix.
"""

from __future__ import annotations

import time

import redis
from limits import parse_many
from limits.storage import RedisStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from core import keys
from events import ConfigurationError

RATE_SCOPE = "webhooks"

# KEYS: slots. ARGV: member, now ms, lapse ms, capacity. 1 when the slot is taken.
_TAKE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""


class EndpointGate:
    def __init__(
        self,
        client: redis.Redis,
        redis_url: str,
        *,
        capacity: int,
        rate_limit: str,
        lapse_s: float,
    ) -> None:
        self._redis = client
        self._capacity = capacity
        self._lapse_ms = int(lapse_s * 1000)
        self._take = client.register_script(_TAKE)
        try:
            self._limits = tuple(parse_many(rate_limit))
        except ValueError as e:
            raise ConfigurationError(f"webhooks endpoint_rate_limit {rate_limit!r}: {e}") from e
        storage = RedisStorage(
            redis_url,
            key_prefix=keys.RATE_LIMIT_PREFIX,
            connection_pool=client.connection_pool,
        )
        self._rate = SlidingWindowCounterRateLimiter(storage)

    def enter(self, endpoint_id: str, delivery_id: str) -> bool:
        """Take a slot and a hit of the rate for one try; False (nothing taken) if full.

        The rate is tested, then counted once the slot is taken: two tries entering at
        the same instant may both pass with one hit left, so it may be exceeded by one."""
        if not all(self._rate.test(item, RATE_SCOPE, endpoint_id) for item in self._limits):
            return False
        now_ms = int(time.time() * 1000)
        name = keys.webhook_slots(endpoint_id)
        if not self._take(keys=[name], args=[delivery_id, now_ms, self._lapse_ms, self._capacity]):
            return False
        for item in self._limits:
            self._rate.hit(item, RATE_SCOPE, endpoint_id)
        return True

    def leave(self, endpoint_id: str, delivery_id: str) -> None:
        self._redis.zrem(keys.webhook_slots(endpoint_id), delivery_id)
