"""Clients for MongoDB (system of record) and Redis (state, read models, counters).

Built once per process at startup and closed at shutdown; never module globals.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from pymongo import MongoClient
from pymongo.database import Database
from redis.backoff import ExponentialWithJitterBackoff

from core.settings import Settings

MongoDocument = dict[str, Any]

# redis-py retries a failed command itself; a couple of quick tries ride over a reconnect.
# Longer outages are the retry policy's business (workers) or a 503 (gateway), not a stall.
REDIS_RETRIES = 2
REDIS_BACKOFF = ExponentialWithJitterBackoff(cap=0.5, base=0.05)


def connect_mongo(settings: Settings) -> MongoClient[MongoDocument]:
    """A pymongo client with bounded timeouts, so a store outage fails fast and is retried."""
    return MongoClient(
        settings.mongo_url,
        serverSelectionTimeoutMS=settings.store_timeout_ms,
        connectTimeoutMS=settings.store_timeout_ms,
        socketTimeoutMS=settings.store_timeout_ms * 2,
        tz_aware=True,
        appname="hookline",
    )


def mongo_database(
    client: MongoClient[MongoDocument], settings: Settings
) -> Database[MongoDocument]:
    return client[settings.mongo_db]


def connect_redis(settings: Settings) -> redis.Redis:
    timeout_s = settings.store_timeout_ms / 1000
    return redis.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
        retry=redis.retry.Retry(REDIS_BACKOFF, REDIS_RETRIES),
    )


def connect_async_redis(settings: Settings) -> redis.asyncio.Redis:
    timeout_s = settings.store_timeout_ms / 1000
    return redis.asyncio.Redis.from_url(
        settings.redis_url,
        decode_responses=True,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        health_check_interval=30,
        retry=redis.asyncio.retry.Retry(REDIS_BACKOFF, REDIS_RETRIES),
    )
