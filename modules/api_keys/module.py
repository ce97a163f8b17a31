"""API keys: admins mint scoped keys for service callers, list them and revoke them.

A key acts for a user, its minter (or the user of the key that minted it), and
never holds more than that user holds at the moment of use: the gateway
intersects its scopes with the user's current permissions. Revoking a key
revokes the keys minted with it too, so no key outlives the key it came from.
"""

from __future__ import annotations

import uuid
from collections.abc import Set
from datetime import datetime

from events import EventSpec, Forbidden, InvalidInput, NotFound, Unauthorized
from events.paging import PageQuery, sort_key
from modules.api_keys.models import (
    ApiKey,
    CreatedKey,
    CreateKeyRequest,
    KeyCreated,
    KeyInfo,
    KeyRevoked,
    RevokeKeyRequest,
)
from modules.base import BaseModule
from modules.declarations import ADMIN_ROLE, Index, Permission, ReadModelKind, Route, RouteMode

_KEY_ID_NAMESPACE = uuid.UUID("3e9b7c5a-1d2f-4a8b-9c6e-0f1a2b3c4d5e")
MANAGE = "api_keys:manage"
USER_PRINCIPAL = "user:"
KEY_PRINCIPAL = "key:"
# The Redis view this module publishes (``read_models``); its query route serves it.
KEYS_VIEW = "keys"


class ApiKeysModule(BaseModule):
    name = "api_keys"
    read_models = (KEYS_VIEW,)
    description = "Scoped API keys for service callers; stored hashed, shown once, revocable."
    # A key acts for a user: minting one reads that user's roles.
    dependencies = ("user_management",)
    permissions = (
        Permission(MANAGE, roles=(ADMIN_ROLE,), description="Mint, list and revoke API keys"),
    )
    routes = (
        Route(
            "POST",
            "/admin/api-keys",
            "create",
            request=CreateKeyRequest,
            permission=MANAGE,
            success_status=201,
            summary="Mint a key; the result shows it once",
        ),
        Route(
            "GET",
            "/admin/api-keys",
            "list_keys",
            request=PageQuery,
            permission=MANAGE,
            mode=RouteMode.QUERY,
            read_model=KEYS_VIEW,
            read_model_kind=ReadModelKind.LIST,
            shared_read_model=True,
            summary="Every key, newest first (never the keys themselves)",
        ),
        Route(
            "DELETE",
            "/admin/api-keys/{key_id}",
            "revoke",
            request=RevokeKeyRequest,
            permission=MANAGE,
            summary="Revoke a key; it stops working at once",
        ),
    )
    events = (
        EventSpec("api_key_created", KeyCreated, "An admin minted an API key."),
        EventSpec("api_key_revoked", KeyRevoked, "An admin revoked an API key."),
    )
    indexes = (Index("keys", (("created_at", -1),)),)

    @staticmethod
    def key_id_for(command_id: str) -> str:
        """A key's id derives from the creating command, so a redelivery finds its record."""
        return uuid.uuid5(_KEY_ID_NAMESPACE, command_id).hex

    @staticmethod
    def check_scopes(requested: tuple[str, ...], known: Set[str], granter: Set[str]) -> None:
        """Scopes must exist, and nobody hands out a permission they do not hold."""
        unknown = sorted(set(requested) - known)
        if unknown:
            raise InvalidInput(f"scopes: unknown permission {unknown[0]!r}", field="scopes")
        beyond = sorted(set(requested) - granter)
        if beyond:
            raise Forbidden(f"scopes: you do not hold {beyond[0]!r} yourself", field="scopes")

    @staticmethod
    def user_of(key: ApiKey) -> str | None:
        """The user ``key`` acts for; a key stored before keys named one, from its minter."""
        if key.user_id is not None:
            return key.user_id
        minter = key.created_by
        return minter.removeprefix(USER_PRINCIPAL) if minter.startswith(USER_PRINCIPAL) else None

    @classmethod
    def minting_user(cls, minter: ApiKey | None) -> str:
        """The user a key minted with ``minter`` acts for; refused if that key is revoked."""
        user_id = None if minter is None or minter.revoked_at else cls.user_of(minter)
        if user_id is None:
            raise Unauthorized("the API key minting this one is revoked")
        return user_id

    @staticmethod
    def minted_by(key_ids: list[str]) -> list[str]:
        """The ``created_by`` of keys minted with ``key_ids``."""
        return [f"{KEY_PRINCIPAL}{key_id}" for key_id in key_ids]

    @staticmethod
    def new_key(
        request: CreateKeyRequest,
        *,
        key_id: str,
        key_hash: str,
        created_by: str,
        user_id: str,
        now: datetime,
    ) -> ApiKey:
        return ApiKey(
            id=key_id,
            name=request.name,
            scopes=tuple(sorted(set(request.scopes))),
            key_hash=key_hash,
            created_by=created_by,
            created_at=now,
            user_id=user_id,
        )

    @staticmethod
    def created(key: ApiKey, plain: str) -> CreatedKey:
        return CreatedKey(
            key_id=key.id,
            name=key.name,
            scopes=key.scopes,
            api_key=plain,
            created_at=key.created_at,
        )

    @staticmethod
    def created_event(key: ApiKey) -> KeyCreated:
        return KeyCreated(
            key_id=key.id, name=key.name, scopes=key.scopes, created_by=key.created_by
        )

    @staticmethod
    def revoked_event(key_id: str, revoked_by: str) -> KeyRevoked:
        return KeyRevoked(key_id=key_id, revoked_by=revoked_by)

    @staticmethod
    def missing(request: RevokeKeyRequest) -> NotFound:
        return NotFound(f"no API key {request.key_id}", field="key_id")

    @staticmethod
    def listing(key: ApiKey) -> tuple[int, KeyInfo]:
        info = KeyInfo(
            key_id=key.id,
            name=key.name,
            scopes=key.scopes,
            created_by=key.created_by,
            created_at=key.created_at,
            revoked=key.revoked_at is not None,
        )
        return sort_key(key.created_at), info
