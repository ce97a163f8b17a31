"""JWT access and refresh tokens (RFC 8725): pinned algorithm, required claims, typed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import jwt

from core.secrets import SecretsChain
from core.settings import Settings
from events import ConfigurationError, Unauthorized, new_id, utc_now

MIN_HS256_SECRET_BYTES = 32
REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud", "jti", "typ")


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
    family: str | None = None


@dataclass(frozen=True)
class TokenService:
    """Signs and verifies tokens for one issuer and audience with one pinned algorithm."""

    secret: str
    issuer: str
    audience: str
    algorithm: str = "HS256"

    def __post_init__(self) -> None:
        if self.algorithm == "HS256" and len(self.secret.encode()) < MIN_HS256_SECRET_BYTES:
            raise ConfigurationError(
                f"jwt_secret must be at least {MIN_HS256_SECRET_BYTES} bytes for HS256"
            )

    @classmethod
    def from_settings(cls, settings: Settings, secrets: SecretsChain) -> TokenService:
        return cls(
            secret=secrets.resolve("jwt_secret"),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )

    def issue(
        self,
        subject: str,
        token_type: TokenType,
        ttl_s: int,
        roles: tuple[str, ...] = (),
        family: str | None = None,
    ) -> tuple[str, Claims]:
        now = utc_now()
        claims = Claims(
            subject,
            token_type,
            new_id(),
            roles,
            int((now + timedelta(seconds=ttl_s)).timestamp()),
            family,
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
            "roles": list(roles),
        }
        if family is not None:
            payload["fam"] = family
        return jwt.encode(payload, self.secret, algorithm=self.algorithm), claims

    def verify(self, token: str, expected: TokenType) -> Claims:
        """Decode ``token`` or raise ``Unauthorized``; refuses a token of the other type."""
        try:
            payload = jwt.decode(
                token,
                self.secret,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.PyJWTError as e:
            raise Unauthorized(f"invalid token: {e}") from e
        if payload["typ"] != expected.value:
            raise Unauthorized(f"a {payload['typ']} token cannot be used as a {expected} token")
        return Claims(
            subject=str(payload["sub"]),
            token_type=expected,
            token_id=str(payload["jti"]),
            roles=tuple(payload.get("roles", ())),
            expires_at=int(payload["exp"]),
            family=payload.get("fam"),
        )
