"""JWT issuing and verification."""

from __future__ import annotations

import pytest

from core.security import TokenService, TokenType
from events import ConfigurationError, Unauthorized

SECRET = "s" * 32


def service(secret: str = SECRET) -> TokenService:
    return TokenService(secret=secret, issuer="hookline", audience="hookline-api")


def test_short_hs256_secret_is_refused() -> None:
    """An HS256 secret under 32 bytes stops start-up."""
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        service("too short")


def test_access_token_round_trip() -> None:
    """An issued access token verifies and carries subject and roles."""
    token, _ = service().issue("u1", TokenType.ACCESS, 60, ("user",))
    claims = service().verify(token, TokenType.ACCESS)
    assert (claims.subject, claims.roles) == ("u1", ("user",))


def test_token_types_do_not_mix() -> None:
    """A refresh token is not an access token, and the reverse."""
    refresh, _ = service().issue("u1", TokenType.REFRESH, 60)
    with pytest.raises(Unauthorized, match="refresh token cannot be used as a access"):
        service().verify(refresh, TokenType.ACCESS)


def test_other_secret_is_refused() -> None:
    """A token signed with another secret does not verify."""
    token, _ = service("x" * 32).issue("u1", TokenType.ACCESS, 60)
    with pytest.raises(Unauthorized, match="invalid token"):
        service().verify(token, TokenType.ACCESS)
