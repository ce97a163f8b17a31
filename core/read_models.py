"""Read models: JSON views that workers write to Redis and the gateway serves."""

from __future__ import annotations

import json
from typing import Any

import redis
import redis.asyncio
from pydantic import BaseModel

from core import keys


class ReadModelStore:
    """Worker side: writes a module's view for one key (usually a user id)."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._redis = client
        self._ttl_s = ttl_s

    def put(self, module: str, view: str, key: str, data: BaseModel) -> None:
        self._redis.set(keys.read_model(module, view, key), data.model_dump_json(), ex=self._ttl_s)

    def drop(self, module: str, view: str, key: str) -> None:
        self._redis.delete(keys.read_model(module, view, key))


class AsyncReadModelReader:
    """Gateway side: reads a view, or None when it must be rebuilt by a worker."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client

    async def get(self, module: str, view: str, key: str) -> Any | None:
        raw = await self._redis.get(keys.read_model(module, view, key))
        return None if raw is None else json.loads(raw)
