"""Who is calling: a bearer access token or an ``X-API-Key`` becomes an ``Actor``.

An access token counts only while its session is open (one Redis read), so
logout and refresh-token reuse take effect at once rather than at expiry.

An API key acts for the user who created it, never beyond them: its actor's
scopes are the key's scopes that the user's roles still grant right now (a
second Redis read, of the roles that ``hookline admin`` and workers publish).
A key whose user has no roles on record (deleted, or unknown) is ``401``. The
role table that decides what roles grant is held here, and the gate checks a
route's permission against it.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from core.security import (
    ApiKeyRecord,
    AsyncApiKeyReader,
    AsyncSessionReader,
    AsyncUserRolesReader,
    RoleTable,
    TokenService,
    TokenType,
)
from events import Actor, Unauthorized

API_KEY_HEADER = "x-api-key"


@dataclass(frozen=True)
class Authenticator:
    tokens: TokenService
    sessions: AsyncSessionReader
    api_keys: AsyncApiKeyReader
    user_roles: AsyncUserRolesReader
    roles: RoleTable

    async def authenticate(self, request: Request, required: bool) -> Actor:
        """The caller as an ``Actor``; anonymous when allowed, else ``Unauthorized``."""
        token = bearer_token(request)
        key = request.headers.get(API_KEY_HEADER)
        if token is not None and key is not None:
            raise Unauthorized("send a bearer token or an API key, not both")
        if key is not None:
            return await self._key_actor(key)
        if token is not None:
            return await self._token_actor(token)
        if required:
            raise Unauthorized("this route needs a bearer access token or an API key")
        return Actor()

    async def _token_actor(self, token: str) -> Actor:
        claims = self.tokens.verify(token, TokenType.ACCESS)
        if not await self.sessions.is_open(claims.family, claims.subject):
            raise Unauthorized("the session of this token has ended; log in again")
        return Actor(user_id=claims.subject, roles=claims.roles)

    async def _key_actor(self, key: str) -> Actor:
        record = await self.api_keys.authenticate(key.strip())
        if record is None:
            raise Unauthorized("invalid or revoked API key")
        return Actor(api_key_id=record.key_id, scopes=await self._held_scopes(record))

    async def _held_scopes(self, record: ApiKeyRecord) -> tuple[str, ...]:
        """The key's scopes that its user holds at this moment."""
        roles = None if record.user_id is None else await self.user_roles.roles_of(record.user_id)
        if roles is None:
            raise Unauthorized("the user this API key acts for is no longer known")
        held = self.roles.of_roles(roles)
        return tuple(scope for scope in record.scopes if scope in held)


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
