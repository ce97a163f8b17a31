"""Requests, records and event payloads of the api_keys module."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from events import Credential

Scope = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")]
KeyId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class CreateKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[\w .-]+$"
        ),
    ]
    scopes: tuple[Scope, ...] = Field(min_length=1, max_length=32)


class RevokeKeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key_id: KeyId


class ApiKey(BaseModel):
    """A stored key: never the key itself, only its hash."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    scopes: tuple[str, ...]
    key_hash: str
    # Who minted it: ``user:<id>``, or ``key:<id>`` for a key minted with a key.
    created_by: str
    created_at: datetime
    revoked_at: datetime | None = None
    # The user whose permissions bound the key: its minter, or the minting key's user.
    # None on keys stored before keys named one (``ApiKeysModule.user_of`` reads those).
    user_id: str | None = None


class KeyInfo(BaseModel):
    """A key as admins list it."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_by: str
    created_at: datetime
    revoked: bool


class CreatedKey(BaseModel):
    """The result of creating a key: the only time ``api_key`` is shown."""

    key_id: str
    name: str
    scopes: tuple[str, ...]
    api_key: Credential
    created_at: datetime


class RevokedKey(BaseModel):
    key_id: str
    revoked: bool = True


class KeyCreated(BaseModel):
    key_id: str
    name: str
    scopes: tuple[str, ...]
    created_by: str


class KeyRevoked(BaseModel):
    key_id: str
    revoked_by: str
