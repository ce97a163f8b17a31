"""Fixtures for the store tests: a client of the session's Redis, no stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.stack_fixtures import Servers


@pytest.fixture
def client(servers: Servers) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(servers.redis_url, decode_responses=True)
    yield client
    client.close()
