"""Each key creator's current roles in Redis, so a key never outlives its creator's role.

An API key holds its scopes only while its creator holds them too: at every
request the gateway intersects the key's scopes with the permissions of the
creator's roles as this record has them now. MongoDB stays the record of the
roles; this is the copy the gateway reads without touching MongoDB.

``hookline admin grant|revoke`` writes it (``publish``) right after changing the
roles in MongoDB. Workers only fill it when it is missing (``fill``: when a key
is minted, and on start for the creators of active keys), so a worker that read
the roles just before a revoke cannot put the old ones back. A creator MongoDB
no longer has loses the record (``withdraw``) and with it every key they made:
no record, no key (``401``).
"""

from __future__ import annotations

import redis
import redis.asyncio
from pydantic import BaseModel, ConfigDict

from core import keys


class UserRoles(BaseModel):
    model_config = ConfigDict(frozen=True)

    user_id: str
    roles: tuple[str, ...]


class UserRolesRegistry:
    """Writers: the admin CLI publishes a change, workers fill in what is missing."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def publish(self, record: UserRoles) -> None:
        self._redis.set(keys.user_roles(record.user_id), record.model_dump_json())

    def fill(self, record: UserRoles) -> None:
        self._redis.set(keys.user_roles(record.user_id), record.model_dump_json(), nx=True)

    def withdraw(self, user_id: str) -> None:
        self._redis.delete(keys.user_roles(user_id))


class AsyncUserRolesReader:
    """Gateway side: a user's current roles, or None when nothing is on record."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client

    async def roles_of(self, user_id: str) -> tuple[str, ...] | None:
        raw = await self._redis.get(keys.user_roles(user_id))
        return None if raw is None else UserRoles.model_validate_json(raw).roles
