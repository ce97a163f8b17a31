"""JWT access and refresh tokens (RFC 8725): pinned algorithm, required claims, typed.

HS256 with a shared secret of at least 32 bytes is the default. RS256 is the
option for deployments that want the gateway to hold only a public key: the
workers sign with the private key, the gateway verifies with the public one.
Every token names its session (``fam``), so the gateway can refuse tokens of a
session that ended (logout, refresh-token reuse) with one Redis read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from core.secrets import SecretsChain
from core.settings import Settings
from events import ConfigurationError, Unauthorized, new_id, utc_now

MIN_HS256_SECRET_BYTES = 32
MIN_RSA_KEY_BITS = 2048
REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud", "jti", "typ", "fam")

Algorithm = Literal["HS256", "RS256"]


class TokenType(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"


@dataclass(frozen=True)
class Claims:
    subject: str
    token_type: TokenType
    token_id: str
    roles: tuple[str, ...]
    expires_at: int
    family: str


@dataclass(frozen=True)
class TokenService:
    """Signs and verifies tokens for one issuer and audience with one pinned algorithm.

    HS256 uses ``secret``. RS256 uses ``public_key`` to verify and ``private_key`` to
    sign (PEM); a gateway may hold only the public key, and issuing then raises.
    """

    secret: str
    issuer: str
    audience: str
    algorithm: Algorithm = "HS256"
    private_key: str | None = None
    public_key: str | None = None
    # Clock skew tolerated between the signing worker and the verifying gateway.
    leeway_s: int = 0
    _keys: tuple[Any, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.algorithm == "HS256":
            _check_hs256_secret(self.secret)
            keys: tuple[Any, Any] = (self.secret, self.secret)
        elif self.algorithm == "RS256":
            keys = _rsa_keys(self.private_key, self.public_key)
        else:
            raise ConfigurationError(f"unsupported JWT algorithm {self.algorithm!r}")
        object.__setattr__(self, "_keys", keys)

    @classmethod
    def from_settings(cls, settings: Settings, secrets: SecretsChain) -> TokenService:
        if settings.jwt_algorithm == "RS256":
            return cls(
                secret="",
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                algorithm="RS256",
                private_key=secrets.lookup("jwt_private_key"),
                public_key=secrets.lookup("jwt_public_key"),
                leeway_s=settings.jwt_leeway_s,
            )
        return cls(
            secret=secrets.resolve("jwt_secret"),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            leeway_s=settings.jwt_leeway_s,
        )

    def issue(
        self,
        subject: str,
        token_type: TokenType,
        ttl_s: int,
        roles: tuple[str, ...] = (),
        *,
        family: str | None = None,
        token_id: str | None = None,
    ) -> tuple[str, Claims]:
        """A signed token of session ``family`` (a new one when not given)."""
        signing_key = self._keys[0]
        if signing_key is None:
            raise ConfigurationError("this process has no JWT signing key")
        now = utc_now()
        claims = Claims(
            subject,
            token_type,
            token_id or new_id(),
            roles,
            int((now + timedelta(seconds=ttl_s)).timestamp()),
            family or new_id(),
        )
        payload = {
            "sub": subject,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": claims.expires_at,
            "jti": claims.token_id,
            "typ": token_type.value,
            "fam": claims.family,
            "roles": list(roles),
        }
        return jwt.encode(payload, signing_key, algorithm=self.algorithm), claims

    def verify(self, token: str, expected: TokenType) -> Claims:
        """Decode ``token`` or raise ``Unauthorized``; refuses a token of the other type."""
        try:
            payload = jwt.decode(
                token,
                self._keys[1],
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as e:
            raise Unauthorized(f"invalid token: {e}") from e
        if payload["typ"] != expected.value:
            raise Unauthorized(f"a {payload['typ']} token cannot be used as a {expected} token")
        roles = payload.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise Unauthorized("invalid token: roles must be a list of names")
        return Claims(
            subject=str(payload["sub"]),
            token_type=expected,
            token_id=str(payload["jti"]),
            roles=tuple(roles),
            expires_at=int(payload["exp"]),
            family=str(payload["fam"]),
        )


def _check_hs256_secret(secret: str) -> None:
    if len(secret.encode()) < MIN_HS256_SECRET_BYTES:
        raise ConfigurationError(
            f"jwt_secret must be at least {MIN_HS256_SECRET_BYTES} bytes for HS256"
        )


def _rsa_keys(private_pem: str | None, public_pem: str | None) -> tuple[Any, Any]:
    """Load and check the RS256 key pair (PEM); the public key may be derived from the private."""
    if not private_pem and not public_pem:
        raise ConfigurationError("RS256 needs jwt_public_key (to verify) or jwt_private_key")
    try:
        private = (
            serialization.load_pem_private_key(private_pem.encode(), password=None)
            if private_pem
            else None
        )
        public = serialization.load_pem_public_key(public_pem.encode()) if public_pem else None
    except ValueError as e:
        raise ConfigurationError(f"an RS256 key is not a valid PEM key: {e}") from e
    if public is None and private is not None:
        public = private.public_key()
    if not isinstance(public, RSAPublicKey) or not isinstance(private, RSAPrivateKey | None):
        raise ConfigurationError("RS256 needs RSA keys")
    if public.key_size < MIN_RSA_KEY_BITS:
        raise ConfigurationError(f"the RS256 key must have at least {MIN_RSA_KEY_BITS} bits")
    if private is not None and private.public_key().public_numbers() != public.public_numbers():
        raise ConfigurationError("jwt_private_key and jwt_public_key are not a pair")
    return private, public
