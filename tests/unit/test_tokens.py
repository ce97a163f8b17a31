"""JWT issuing and verification: HS256 by default, RS256 with a key pair, algorithms pinned."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.security import TokenService, TokenType
from events import ConfigurationError, Unauthorized

SECRET = "s" * 32


def service(secret: str = SECRET) -> TokenService:
    return TokenService(secret=secret, issuer="hookline", audience="hookline-api")


def rsa_pems(bits: int = 2048) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def rs256(private: str | None, public: str | None) -> TokenService:
    return TokenService(
        secret="",
        issuer="hookline",
        audience="hookline-api",
        algorithm="RS256",
        private_key=private,
        public_key=public,
    )


def test_short_hs256_secret_is_refused() -> None:
    """An HS256 secret under 32 bytes stops start-up."""
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        service("too short")


def test_access_token_round_trip() -> None:
    """An issued access token verifies and carries subject, roles and its session."""
    token, issued = service().issue("u1", TokenType.ACCESS, 60, ("user",), family="f1")
    claims = service().verify(token, TokenType.ACCESS)
    assert (claims.subject, claims.roles, claims.family) == ("u1", ("user",), "f1")
    assert claims.token_id == issued.token_id


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


def test_roles_that_are_not_a_list_of_names_are_refused() -> None:
    """A validly signed token whose roles claim is a string is refused, not split into letters."""
    token, _ = service().issue("u1", TokenType.ACCESS, 60)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode({**claims, "roles": "admin"}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized, match="roles"):
        service().verify(forged, TokenType.ACCESS)


def test_rs256_round_trip_and_a_verify_only_service() -> None:
    """Workers sign with the private key; a gateway holding only the public key verifies."""
    private, public = rsa_pems()
    token, _ = rs256(private, None).issue("u1", TokenType.ACCESS, 60, family="f1")
    gateway = rs256(None, public)
    assert gateway.verify(token, TokenType.ACCESS).subject == "u1"
    with pytest.raises(ConfigurationError, match="no JWT signing key"):
        gateway.issue("u1", TokenType.ACCESS, 60)


def test_rs256_refuses_an_hs256_token_made_with_the_public_key() -> None:
    """Key confusion: an HS256 token whose HMAC key is the public PEM is refused."""
    _, public = rsa_pems()
    claims = {
        "sub": "u1", "iss": "hookline", "aud": "hookline-api", "iat": 1, "exp": 2**31,
        "jti": "j", "typ": "access", "fam": "f",
    }  # fmt: skip
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{b64(json.dumps(claims))}"
    mac = hmac.new(public.encode(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"
    with pytest.raises(Unauthorized, match="alg"):
        rs256(None, public).verify(forged, TokenType.ACCESS)


def b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_rs256_keys_are_checked_at_start() -> None:
    """No key, a short key, or a private and public key that do not pair stop start-up."""
    with pytest.raises(ConfigurationError, match="needs jwt_public_key"):
        rs256(None, None)
    with pytest.raises(ConfigurationError, match="at least 2048 bits"):
        rs256(None, rsa_pems(1024)[1])
    with pytest.raises(ConfigurationError, match="not a pair"):
        rs256(rsa_pems()[0], rsa_pems()[1])
    with pytest.raises(ConfigurationError, match="not a valid PEM"):
        rs256(None, "not a key")
