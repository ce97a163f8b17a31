"""A cap on one caller's unfinished commands.

Each caller has a sorted set of the commands it submitted, scored by when an
entry stops counting (a safety net for commands that never finish). Nothing
removes an entry when its command ends; instead, a caller that reaches the cap
has its set pruned of finished commands, in the same script, before it is
refused. The pruning reads the command hashes by name, which a standalone
Redis allows; the cost is bounded by the cap and paid only at the cap.
"""

from __future__ import annotations

import time

import redis.asyncio

from api_gateway.errors import TooManyInFlight
from core import keys, scripts
from events import TERMINAL

# KEYS: the caller's set. ARGV: now, entry expiry, cap, command id, command key prefix,
# set ttl (never shortened: it outlives the set's latest entry), then the terminal statuses.
_RESERVE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local cap = tonumber(ARGV[3])
if redis.call('ZCARD', KEYS[1]) >= cap then
  local terminal = {}
  for i = 7, #ARGV do terminal[ARGV[i]] = true end
  for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    local status = redis.call('HGET', ARGV[5] .. id, 'status')
    if status and terminal[status] then redis.call('ZREM', KEYS[1], id) end
  end
  if redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[6]) then redis.call('EXPIRE', KEYS[1], ARGV[6]) end
return 1
"""


class InFlightLimiter:
    def __init__(self, client: redis.asyncio.Redis, cap: int, expiry_s: int) -> None:
        self._redis = client
        self._cap = cap
        self._expiry_s = expiry_s
        self._reserve = client.register_script(_RESERVE)

    async def reserve(self, identity: str, command_id: str, from_s: float | None = None) -> None:
        """Count ``command_id`` as in flight for ``identity``, or raise ``TooManyInFlight``.

        It stops counting once it finishes, or ``in_flight_expiry_s`` after ``from_s``
        (default: now; a scheduled command's due time)."""
        call = self.reserve_call(identity, command_id, from_s)
        self.check(await self._reserve(keys=call.keys, args=call.args))

    def reserve_call(
        self, identity: str, command_id: str, from_s: float | None = None
    ) -> scripts.Call:
        """``reserve`` as a script call, to send with others in one round trip; ``check``
        its result."""
        now = time.time()
        start = max(now, from_s or now)
        args: list[str | int] = [
            f"{now:.3f}",
            f"{start + self._expiry_s:.3f}",
            self._cap,
            command_id,
            keys.COMMAND_PREFIX,
            int(start - now) + self._expiry_s,
            *sorted(TERMINAL),
        ]
        return scripts.Call(self._reserve, [keys.in_flight(identity)], args)

    def check(self, reserved: int) -> None:
        """Raise ``TooManyInFlight`` unless the reserve script counted the command."""
        if not reserved:
            raise TooManyInFlight(
                f"you already have {self._cap} commands in flight; wait for one to finish",
                retry_after_s=1,
            )

    async def release(self, identity: str, command_id: str) -> None:
        """Forget a command the broker never took."""
        await self._redis.zrem(keys.in_flight(identity), command_id)
