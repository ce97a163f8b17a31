"""API keys orchestrator: hashed keys in MongoDB, active ones published to Redis.

MongoDB is the record; Redis holds what the gateway reads, with no expiry. On
start every worker republishes the active keys and withdraws revoked ones, so a
Redis that lost its data is repaired by the next worker start.
"""

from __future__ import annotations

from typing import Any

from core.read_models import SHARED_KEY
from core.security import KNOWN_PERMISSIONS, ApiKeyRecord, permissions_of
from core.security import api_keys as keys_crypto
from events import CommandResult, utc_now
from events.paging import PageQuery
from modules.api_keys import ApiKeysModule
from modules.api_keys.models import ApiKey, CreateKeyRequest, RevokedKey, RevokeKeyRequest
from workers.context import CommandContext
from workers.documents import from_document, to_document
from workers.listing import page_of
from workers.orchestrator import Orchestrator

KEYS = "keys"


class ApiKeysOrchestrator(Orchestrator[ApiKeysModule]):
    module_class = ApiKeysModule

    def on_start(self) -> None:
        for key in self._all():
            if key.revoked_at is None:
                self.services.api_keys.publish(_record(key))
            else:
                self.services.api_keys.withdraw(key.id)

    def create(self, ctx: CommandContext, request: CreateKeyRequest) -> CommandResult:
        self.module.check_scopes(request.scopes, KNOWN_PERMISSIONS, permissions_of(ctx.actor))
        key_id = self.module.key_id_for(ctx.command.id)
        plain = keys_crypto.mint(key_id)
        key = self.module.new_key(
            request, key_id, keys_crypto.digest(plain), ctx.actor.principal, ctx.now
        )
        # A redelivery replaces the hash: the earlier key was never shown to anyone.
        document = to_document(key)
        created_at = document.pop("created_at")
        self.collection(KEYS).update_one(
            {"_id": key.id},
            {"$set": document, "$setOnInsert": {"created_at": created_at}},
            upsert=True,
        )
        self.services.api_keys.publish(_record(key))
        self._rebuild_listing()
        ctx.emit("api_key_created", self.module.created_event(key))
        return self.result(self.module.created(key, plain), status_code=201)

    def revoke(self, ctx: CommandContext, request: RevokeKeyRequest) -> CommandResult:
        found = self.collection(KEYS).find_one_and_update(
            {"_id": request.key_id}, {"$set": {"revoked_at": utc_now()}}
        )
        if found is None:
            raise self.module.missing(request)
        self.services.api_keys.withdraw(request.key_id)
        self._rebuild_listing()
        ctx.emit("api_key_revoked", self.module.revoked_event(request, ctx.actor.principal))
        return self.result(RevokedKey(key_id=request.key_id))

    def list_keys(self, ctx: CommandContext, query: PageQuery) -> CommandResult:
        """Rebuilds the shared key list from MongoDB and answers the page asked for."""
        return self.result(page_of(self._rebuild_listing(), query))

    def _rebuild_listing(self) -> list[tuple[int, Any]]:
        items = [self.module.listing(key) for key in self._all()]
        items.sort(key=lambda pair: pair[0], reverse=True)
        self.read_models.replace(self.module.name, KEYS, SHARED_KEY, items)
        return items

    def _all(self) -> list[ApiKey]:
        return [from_document(ApiKey, d) for d in self.collection(KEYS).find({})]


def _record(key: ApiKey) -> ApiKeyRecord:
    return ApiKeyRecord(key_id=key.id, key_hash=key.key_hash, scopes=key.scopes)
