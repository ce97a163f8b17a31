"""Read models: views that workers write to Redis and the gateway serves.

A document view is one JSON value per key, written only if its version is
newer than the one stored, so concurrent writers cannot go back in time. A
list view is a sorted set of JSON items (newest first) plus a ``ready``
marker: items are appended only to a list that was fully built, so a list
that expired is rebuilt from MongoDB rather than served half-empty.

A caller's own views are keyed by ``caller_key``: the gateway reads under it
and the worker's query command writes under it, so the second read of a view
is served from Redis, whoever the caller (a user, or an API key).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio
from pydantic import BaseModel

from core import keys
from events import Actor
from events.paging import Page

# The key of a view that is one for every caller (an admin list) rather than one per caller.
SHARED_KEY = "_shared"


def caller_key(actor: Actor) -> str:
    """The key of ``actor``'s own views: a user's id (as hooks write them), else the
    principal (``key:<id>``); never one key shared by every caller that is not a user."""
    return actor.user_id if actor.user_id is not None else actor.principal


# KEYS: view, version. ARGV: json, version, ttl.
_PUT_IF_NEWER = """
local stored = tonumber(redis.call('GET', KEYS[2]) or '-1')
if tonumber(ARGV[2]) < stored then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
"""

# KEYS: list, ready. ARGV: ttl, then score/json pairs.
_APPEND_IF_READY = """
if redis.call('EXISTS', KEYS[2]) == 0 then return 0 end
for i = 2, #ARGV, 2 do redis.call('ZADD', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""


class ReadModelStore:
    """Worker side: writes a module's views."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._redis = client
        self._ttl_s = ttl_s
        self._put_if_newer = client.register_script(_PUT_IF_NEWER)
        self._append_if_ready = client.register_script(_APPEND_IF_READY)

    def put(self, module: str, view: str, key: str, data: BaseModel, version: int = 0) -> None:
        """Store ``data`` unless a newer version is already there (version 0: always newer)."""
        name = keys.read_model(module, view, key)
        if version == 0:
            self._redis.set(name, data.model_dump_json(), ex=self._ttl_s)
            return
        self._put_if_newer(
            keys=[name, keys.read_model_version(module, view, key)],
            args=[data.model_dump_json(), version, self._ttl_s],
        )

    def append(
        self, module: str, view: str, key: str, items: Sequence[tuple[int, BaseModel]]
    ) -> None:
        """Add items (score, item) to a list view, if that view is built."""
        name = keys.read_model(module, view, key)
        pairs = [part for score, item in items for part in (score, item.model_dump_json())]
        ready = keys.read_model_ready(module, view, key)
        self._append_if_ready(keys=[name, ready], args=[self._ttl_s, *pairs])

    def replace(
        self, module: str, view: str, key: str, items: Sequence[tuple[int, BaseModel]]
    ) -> None:
        """Rebuild a list view from scratch and mark it ready."""
        name = keys.read_model(module, view, key)
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(name)
        if items:
            pipe.zadd(name, {item.model_dump_json(): score for score, item in items})
            pipe.expire(name, self._ttl_s)
        pipe.set(keys.read_model_ready(module, view, key), "1", ex=self._ttl_s)
        pipe.execute()


class AsyncReadModelReader:
    """Gateway side: reads a view, or None when it must be rebuilt by a worker."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client

    async def get(self, module: str, view: str, key: str) -> Any | None:
        raw = await self._redis.get(keys.read_model(module, view, key))
        return None if raw is None else json.loads(raw)

    async def page(
        self, module: str, view: str, key: str, limit: int, before: int | None
    ) -> Page | None:
        """Up to ``limit`` items older than ``before``, newest first; None if not built."""
        name = keys.read_model(module, view, key)
        pipe = self._redis.pipeline(transaction=False)
        pipe.exists(keys.read_model_ready(module, view, key))
        pipe.zrevrangebyscore(
            name,
            f"({before}" if before is not None else "+inf",
            "-inf",
            start=0,
            num=limit,
            withscores=True,
        )
        ready, rows = await pipe.execute()
        if not ready:
            return None
        items = [json.loads(member) for member, _ in rows]
        cursor = int(rows[-1][1]) if len(rows) == limit else None
        return Page(items=items, next=cursor)
