"""Who is calling: a bearer access token becomes an ``Actor``."""

from __future__ import annotations

from starlette.requests import Request

from core.security import TokenService, TokenType
from events import Actor, Unauthorized
from events.admin import require_admin


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authenticate(request: Request, tokens: TokenService, required: bool) -> Actor:
    """The caller as an ``Actor``; anonymous when allowed, else ``Unauthorized``."""
    token = bearer_token(request)
    if token is None:
        if required:
            raise Unauthorized("this route needs a bearer access token")
        return Actor()
    claims = tokens.verify(token, TokenType.ACCESS)
    return Actor(user_id=claims.subject, roles=claims.roles)


def authenticate_admin(request: Request, tokens: TokenService) -> Actor:
    """The caller, who must hold an access token with the ``admin`` role."""
    actor = authenticate(request, tokens, required=True)
    require_admin(actor)
    return actor
