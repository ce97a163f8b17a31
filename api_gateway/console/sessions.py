"""Console sign-ins: a random id in an HttpOnly cookie, only its SHA-256 in Redis.

The session holds the user's id, the roles their login's token named, and a CSRF token
that every form posts back. At every page the roles on record in Redis (which ``hookline
admin grant|revoke`` publishes) win over the session's, so a role taken away with the
command takes effect at once. The
platform's tokens from the sign-in's login are never kept.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import redis.asyncio
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from api_gateway.client_ip import IpNetwork, is_trusted
from core import keys

COOKIE = "hookline_console"
# Before sign-in: the sign-in form's CSRF token, posted back with the form (double submit).
SIGNIN_COOKIE = "hookline_console_signin"
COOKIE_PATH = "/console"
FORWARDED_PROTO = "x-forwarded-proto"


class ConsoleSession(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    email: str
    roles: tuple[str, ...]
    csrf: str


class ConsoleSessions:
    def __init__(self, client: redis.asyncio.Redis, ttl_s: int) -> None:
        self._redis = client
        self.ttl_s = ttl_s

    async def open(
        self, user_id: str, email: str, roles: tuple[str, ...]
    ) -> tuple[str, ConsoleSession]:
        """A new session: the id for the cookie, and the session."""
        session_id = secrets.token_urlsafe(32)
        session = ConsoleSession(
            user_id=user_id, email=email, roles=roles, csrf=secrets.token_urlsafe(32)
        )
        await self._redis.set(_key(session_id), session.model_dump_json(), ex=self.ttl_s)
        return session_id, session

    async def find(self, session_id: str | None) -> ConsoleSession | None:
        """The live session the cookie names, its lifetime renewed; None if there is none."""
        if not session_id or len(session_id) > 100:
            return None
        key = _key(session_id)
        raw = await self._redis.getex(key, ex=self.ttl_s)
        return None if raw is None else ConsoleSession.model_validate_json(raw)

    async def close(self, session_id: str | None) -> None:
        if session_id:
            await self._redis.delete(_key(session_id))


def _key(session_id: str) -> str:
    return keys.console_session(hashlib.sha256(session_id.encode()).hexdigest())


def csrf_matches(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


def is_tls(request: Request, trusted: tuple[IpNetwork, ...]) -> bool:
    """Served over TLS: the request's scheme, or a trusted proxy's ``X-Forwarded-Proto``."""
    if request.url.scheme == "https":
        return True
    peer = request.client.host if request.client else ""
    proto = request.headers.get(FORWARDED_PROTO, "").split(",")[-1].strip().lower()
    return proto == "https" and is_trusted(peer, trusted)


def set_cookie(response: Response, name: str, value: str, max_age: int, *, secure: bool) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
    )


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path=COOKIE_PATH, httponly=True, samesite="strict", secure=secure)
