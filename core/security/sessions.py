"""Login sessions (refresh-token families) in Redis.

Login opens a session; its id is the ``fam`` claim of every token it issues.
The session remembers the one refresh token that may be used next. Refreshing
rotates it; presenting any older refresh token of the session is reuse, and ends
the session, so both the thief's and the owner's tokens stop working. Logout
ends all of a user's sessions. The gateway accepts an access token only while
its session exists: one Redis read per request.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import cast

import redis
import redis.asyncio

from core import keys
from events import Unauthorized

log = logging.getLogger(__name__)

# Sessions popped per round trip while ending all of a user's sessions.
_LOGOUT_BATCH = 100

# KEYS: session, user's sessions. ARGV: user id, refresh token id, ttl. The index's TTL is
# renewed at every login, so it drops the sessions that expired meanwhile: it holds the
# user's live sessions, not every login since the first. (It reads session keys by name,
# which a standalone Redis allows.)
_OPEN = """
for _, ended in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('EXISTS', ended) == 0 then redis.call('SREM', KEYS[2], ended) end
end
redis.call('HSET', KEYS[1], 'user', ARGV[1], 'current', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS: session, user's sessions. ARGV: user id, presented token id, successor token id, ttl.
# The successor derives from the refreshing command, so a redelivered command that already
# rotated finds its own successor current and succeeds again instead of looking like reuse.
_ROTATE = """
local user = redis.call('HGET', KEYS[1], 'user')
if user ~= ARGV[1] then return 'ended' end
local current = redis.call('HGET', KEYS[1], 'current')
if current == ARGV[2] then
  redis.call('HSET', KEYS[1], 'current', ARGV[3])
  redis.call('EXPIRE', KEYS[1], ARGV[4])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  return 'rotated'
end
if current == ARGV[3] then return 'rotated' end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], KEYS[1])
return 'reused'
"""


class Rotation(StrEnum):
    ROTATED = "rotated"
    REUSED = "reused"
    ENDED = "ended"


class SessionStore:
    """The worker side: opens, rotates and ends sessions."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._open = client.register_script(_OPEN)
        self._rotate = client.register_script(_ROTATE)

    def open(self, family: str, user_id: str, refresh_token_id: str, ttl_s: int) -> None:
        self._open(
            keys=[keys.session(family), keys.user_sessions(user_id)],
            args=[user_id, refresh_token_id, ttl_s],
        )

    def rotate(
        self, family: str, user_id: str, presented_id: str, successor_id: str, ttl_s: int
    ) -> None:
        """Make ``successor_id`` the session's next refresh token, or raise ``Unauthorized``."""
        outcome = Rotation(
            self._rotate(
                keys=[keys.session(family), keys.user_sessions(user_id)],
                args=[user_id, presented_id, successor_id, ttl_s],
            )
        )
        if outcome is Rotation.REUSED:
            log.warning(
                "refresh token reused; session %s ended", family, extra={"user_id": user_id}
            )
            raise Unauthorized("this refresh token was already used; the session is ended")
        if outcome is Rotation.ENDED:
            raise Unauthorized("the session has ended; log in again")

    def end_all(self, user_id: str) -> int:
        """End every session of ``user_id``; how many there were."""
        ended = 0
        index = keys.user_sessions(user_id)
        while batch := cast("list[str]", self._redis.spop(index, _LOGOUT_BATCH)):
            ended += cast(int, self._redis.delete(*batch))
        return ended


class AsyncSessionReader:
    """The gateway side: is a token's session still open?"""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client

    async def is_open(self, family: str, user_id: str) -> bool:
        owner = await self._redis.hget(keys.session(family), "user")  # type: ignore[misc]
        return bool(owner == user_id)
