"""The benchmark's caller: a user with an open session and its access token.

Every request the benchmark sends to Hookline carries this bearer token and an
``Idempotency-Key`` of its own, so admission does all of its work: the per-IP and
per-user limits, the bans, the session read, the key's claim and the in-flight cap
(``bench.servers`` sets the limits high enough never to refuse). The peer is sent
the same headers and ignores them.
"""

from __future__ import annotations

import uuid

import redis

from core.security import SessionStore, TokenService, TokenType
from core.settings import Settings

USER_ID = "bench-user"
TOKEN_TTL_S = 6 * 3600


def open_session(redis_url: str, jwt_secret: str) -> str:
    """An access token of a session opened now in ``redis_url`` (after any reset)."""
    settings = Settings()
    tokens = TokenService(jwt_secret, settings.jwt_issuer, settings.jwt_audience)
    token, claims = tokens.issue(USER_ID, TokenType.ACCESS, TOKEN_TTL_S, ("user",))
    client = redis.Redis.from_url(redis_url)
    try:
        SessionStore(client).open(claims.family, USER_ID, uuid.uuid4().hex, TOKEN_TTL_S)
    finally:
        client.close()
    return token


def headers(token: str) -> dict[str, str]:
    """One request's headers: the token and a new Idempotency-Key."""
    return {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
