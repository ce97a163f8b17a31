"""The index of a user's sessions in Redis holds their live sessions only."""

from __future__ import annotations

import uuid

import redis

from core import keys
from core.security import SessionStore

TTL_S = 60


def test_a_login_drops_the_sessions_that_expired_from_the_index(client: redis.Redis) -> None:
    """Sessions gone from Redis (as an expired one is) leave the index at the next login, so a
    user who logs in again and again without logging out keeps an index of live sessions."""
    sessions, user_id = SessionStore(client), uuid.uuid4().hex
    for family in ("a", "b", "c"):
        sessions.open(f"{user_id}-{family}", user_id, "refresh", TTL_S)
    client.delete(keys.session(f"{user_id}-a"), keys.session(f"{user_id}-b"))
    sessions.open(f"{user_id}-d", user_id, "refresh", TTL_S)
    live = {keys.session(f"{user_id}-{family}") for family in ("c", "d")}
    assert client.smembers(keys.user_sessions(user_id)) == live
    assert sessions.end_all(user_id) == 2
    assert not client.exists(keys.user_sessions(user_id))
