"""API keys orchestrator: hashed keys in MongoDB, active ones published to Redis.

MongoDB is the record; Redis holds what the gateway reads, with no expiry: each
active key, and the current roles of the user it acts for, which bound its
scopes at every request. On start every worker republishes the active keys,
fills in their users' roles, and withdraws revoked keys and the roles of users
that no longer exist, so a Redis that lost its data is repaired by the next
worker start.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core.read_models import SHARED_KEY
from core.security import ApiKeyRecord, UserRoles
from core.security import api_keys as keys_crypto
from events import Actor, CommandResult, Unauthorized, utc_now
from events.paging import PageQuery
from modules.api_keys import KEYS_VIEW, ApiKeysModule
from modules.api_keys.models import ApiKey, CreateKeyRequest, RevokedKey, RevokeKeyRequest
from modules.user_management.models import User
from workers.context import CommandContext
from workers.documents import from_document, to_document
from workers.listing import page_of
from workers.orchestrator import Orchestrator
from workers.orchestrators.user_management import UserManagementOrchestrator

KEYS = "keys"


class ApiKeysOrchestrator(Orchestrator[ApiKeysModule]):
    module_class = ApiKeysModule

    def on_start(self) -> None:
        users = self.peer(UserManagementOrchestrator)
        for key in self._all():
            user_id = self.module.user_of(key)
            if key.revoked_at is not None or user_id is None:
                self.services.api_keys.withdraw(key.id)
                continue
            user = users.find_by_id(user_id)
            if user is None:  # its keys stop working: the gateway finds no roles
                self.services.user_roles.withdraw(user_id)
            else:
                self._fill_roles(user)
            self.services.api_keys.publish(_record(key, user_id))

    def create(self, ctx: CommandContext, request: CreateKeyRequest) -> CommandResult:
        user = self._acting_user(ctx.actor)
        roles = self.services.roles
        # The gateway bounded a key caller's scopes already; bound them again by MongoDB.
        granter = roles.permissions_of(ctx.actor) & roles.of_roles(user.roles)
        self.module.check_scopes(request.scopes, roles.known, granter)
        key_id = self.module.key_id_for(ctx.command.id)
        plain = keys_crypto.mint(key_id)
        key = self.module.new_key(
            request,
            key_id=key_id,
            key_hash=keys_crypto.digest(plain),
            created_by=ctx.actor.principal,
            user_id=user.id,
            now=ctx.now,
        )
        # A redelivery replaces the hash: the earlier key was never shown to anyone.
        document = to_document(key)
        created_at = document.pop("created_at")
        self.collection(KEYS).update_one(
            {"_id": key.id},
            {"$set": document, "$setOnInsert": {"created_at": created_at}},
            upsert=True,
        )
        self._fill_roles(user)  # before the key: a published key always finds its roles
        self.services.api_keys.publish(_record(key, user.id))
        self._rebuild_listing()
        ctx.emit("api_key_created", self.module.created_event(key))
        return self.result(self.module.created(key, plain), status_code=201)

    def revoke(self, ctx: CommandContext, request: RevokeKeyRequest) -> CommandResult:
        """Revoke the key and every key minted with it (and with those, and so on)."""
        now = utc_now()
        found = self.collection(KEYS).find_one_and_update(
            {"_id": request.key_id}, {"$set": {"revoked_at": now}}
        )
        if found is None:
            raise self.module.missing(request)
        for key_id in [request.key_id, *self._revoke_minted_with(request.key_id, now)]:
            self.services.api_keys.withdraw(key_id)
            ctx.emit("api_key_revoked", self.module.revoked_event(key_id, ctx.actor.principal))
        self._rebuild_listing()
        return self.result(RevokedKey(key_id=request.key_id))

    def list_keys(self, ctx: CommandContext, query: PageQuery) -> CommandResult:
        """Rebuilds the shared key list from MongoDB and answers the page asked for."""
        return self.result(page_of(self._rebuild_listing(), query))

    def _acting_user(self, actor: Actor) -> User:
        """The user a new key acts for: the caller, or the user of the key minting it."""
        if actor.api_key_id is not None:
            found = self.collection(KEYS).find_one({"_id": actor.api_key_id})
            minter = None if found is None else from_document(ApiKey, found)
            user_id = self.module.minting_user(minter)
        else:
            user_id = actor.user_id or ""
        user = self.peer(UserManagementOrchestrator).find_by_id(user_id)
        if user is None:
            raise Unauthorized("the user a new key would act for no longer exists")
        return user

    def _revoke_minted_with(self, key_id: str, now: datetime) -> list[str]:
        """Revoke the active keys minted with ``key_id``, then theirs; their ids."""
        revoked: list[str] = []
        minters = [key_id]
        while minters:
            query = {"created_by": {"$in": self.module.minted_by(minters)}, "revoked_at": None}
            minters = [d["_id"] for d in self.collection(KEYS).find(query, {"_id": 1})]
            if minters:
                self.collection(KEYS).update_many(
                    {"_id": {"$in": minters}}, {"$set": {"revoked_at": now}}
                )
            revoked += minters
        return revoked

    def _fill_roles(self, user: User) -> None:
        self.services.user_roles.fill(UserRoles(user_id=user.id, roles=user.roles))

    def _rebuild_listing(self) -> list[tuple[int, Any]]:
        items = [self.module.listing(key) for key in self._all()]
        items.sort(key=lambda pair: pair[0], reverse=True)
        self.read_models.replace(self.module.name, KEYS_VIEW, SHARED_KEY, items)
        return items

    def _all(self) -> list[ApiKey]:
        return [from_document(ApiKey, d) for d in self.collection(KEYS).find({})]


def _record(key: ApiKey, user_id: str) -> ApiKeyRecord:
    return ApiKeyRecord(key_id=key.id, key_hash=key.key_hash, scopes=key.scopes, user_id=user_id)
