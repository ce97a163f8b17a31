"""API keys for service callers: minted once, kept only as a hash, checked in constant time.

A key reads ``hk_<key id>_<secret>``. The id finds the record; the SHA-256 of the
whole key is compared with ``hmac.compare_digest``. The secret is 256 random bits,
so a fast hash is enough (a slow password hash would cost every request).
Workers keep the records in MongoDB and publish active ones to Redis, where the
gateway reads them without touching MongoDB. A record names the user whose
authority the key carries (its creator, or for a key minted with a key, that
key's user): the key holds only the scopes that user still holds
(``core.security.user_roles``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import redis
import redis.asyncio
from pydantic import BaseModel, ConfigDict

from core import keys

KEY_PREFIX = "hk"
SECRET_BYTES = 32
_KEY_SHAPE = re.compile(r"^hk_([0-9a-f]{32})_[A-Za-z0-9_-]{43}$")


class ApiKeyRecord(BaseModel):
    """What the gateway needs to authenticate a key."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    key_hash: str
    scopes: tuple[str, ...]
    # The user the key acts for; None (a record from before keys named one): no access.
    user_id: str | None = None


def mint(key_id: str) -> str:
    """A new key for ``key_id``; shown once, never stored."""
    return f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str | None:
    """The id a presented key claims, or None when it does not look like a key."""
    match = _KEY_SHAPE.match(key)
    return match.group(1) if match else None


def matches(record: ApiKeyRecord, presented: str) -> bool:
    return hmac.compare_digest(record.key_hash, digest(presented))


class ApiKeyRegistry:
    """Worker side: publishes active keys for the gateway and withdraws revoked ones."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def publish(self, record: ApiKeyRecord) -> None:
        self._redis.set(keys.api_key(record.key_id), record.model_dump_json())

    def withdraw(self, key_id: str) -> None:
        self._redis.delete(keys.api_key(key_id))


class AsyncApiKeyReader:
    """Gateway side: the record of a presented key, if the key is active and genuine."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client

    async def authenticate(self, presented: str) -> ApiKeyRecord | None:
        key_id = key_id_of(presented)
        if key_id is None:
            return None
        raw = await self._redis.get(keys.api_key(key_id))
        if raw is None:
            return None
        record = ApiKeyRecord.model_validate_json(raw)
        return record if matches(record, presented) else None
