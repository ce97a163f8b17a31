"""A private Hookline stack that a fault test may kill, stop and restart piece by piece.

Each fault test gets its own Redis server and MongoDB-protocol server (on free
ports, data in the test's temporary directory), its own worker and gateway, so
nothing it breaks reaches the session's shared stack. Timings are shortened
through the ordinary settings, keeping the startup check's rule (visibility
timeout > task time limit + longest retry wait).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from pymongo import MongoClient
from pymongo.database import Database

from core import keys
from core.celery_app import make_celery
from core.settings import Settings
from hookline.processes import spawn, terminate
from hookline.stack import (
    SOFT_SHUTDOWN_ENV,
    ServerHandle,
    ensure_jwt_secret,
    ensure_mongo,
    ensure_redis,
    ensure_seal_key,
    gateway_command,
    worker_command,
)
from tests.stack_fixtures import (
    TEST_WORKER_ENV,
    free_port,
    kill_group,
    purge_queues,
    rabbitmq_or_skip,
)

Doc = dict[str, Any]

# Short enough for a test to see redelivery, long enough for a loaded 2-core machine and
# for a worker whose broker is down a few seconds (its pool results wait meanwhile).
FAULT_SETTINGS = {
    "HOOKLINE_TASK_TIME_LIMIT_S": "20",
    "HOOKLINE_RETRY_BACKOFF_BASE_S": "0.2",
    "HOOKLINE_RETRY_BACKOFF_MAX_S": "2",
    "HOOKLINE_VISIBILITY_TIMEOUT_S": "25",
    "HOOKLINE_BROKER_RESTORE_INTERVAL_S": "1",
    "HOOKLINE_REDELIVERY_GRACE_S": "5",
    "HOOKLINE_REDELIVERY_SWEEP_S": "1",
    "HOOKLINE_WORKER_SOFT_SHUTDOWN_S": "3",
    "HOOKLINE_STORE_TIMEOUT_MS": "2000",
    "HOOKLINE_HEARTBEAT_INTERVAL_S": "0.5",
    "HOOKLINE_HEARTBEAT_TTL_S": "3",
    # Load comes from one address in bursts: limits and caps are tested elsewhere.
    "HOOKLINE_RATE_LIMITS_ENABLED": "false",
    "HOOKLINE_MAX_COMMANDS_IN_FLIGHT": "100000",
    "HOOKLINE_ADMIN_EMAILS": "operator@faults.test",
}
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
POLL_S = 0.25
_LOG_TAIL_CHARS = 4000


class FaultStack:
    """Servers, one worker and one gateway; each piece can be stopped and started again."""

    def __init__(self, root: Path, broker_url: str | None, settings: dict[str, str]) -> None:
        self._admin: dict[str, str] | None = None
        self.root = root
        self.redis_url = f"redis://127.0.0.1:{free_port()}/0"
        self.mongo_url = f"mongodb://127.0.0.1:{free_port()}"
        self.redis_server = ensure_redis(self.redis_url, root)
        self.mongo_server = ensure_mongo(self.mongo_url, root)
        self.port = free_port()
        self.env = {
            **os.environ,
            **SOFT_SHUTDOWN_ENV,
            **TEST_WORKER_ENV,
            **FAULT_SETTINGS,
            **settings,
            "REDIS_URL": self.redis_url,
            "BROKER_URL": broker_url or self.redis_url,
            "MONGO_URL": self.mongo_url,
            "HOOKLINE_DATA_DIR": str(root),
            "HOOKLINE_MONGO_DB": f"faults_{uuid.uuid4().hex[:8]}",
            "PYTHONUNBUFFERED": "1",
        }
        self.jwt_secret = ensure_jwt_secret(root).read_text().strip()
        ensure_seal_key(root)
        self.worker: subprocess.Popen[bytes] | None = None
        self.gateway: subprocess.Popen[bytes] | None = None
        self.generation = 0
        # Like docker's restart policy: a worker that exits on its own is started again.
        self.supervise = False
        self.worker_restarts = 0
        self.redis = redis.Redis.from_url(self.redis_url, decode_responses=True)
        self._mongo: MongoClient[Doc] = MongoClient(self.mongo_url, tz_aware=True)
        self.store: Database[Doc] = self._mongo[self.env["HOOKLINE_MONGO_DB"]]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- processes ------------------------------------------------------------------------

    def start(self) -> None:
        """Start a worker and the gateway and wait until /health is 200."""
        self.start_worker()
        with (self.root / "gateway.log").open("ab") as output:
            self.gateway = spawn(gateway_command(self.port), self.env, output=output)
        self.await_health(lambda status: status == 200, "the stack to become healthy")

    def restart_gateway(self, **settings: str) -> None:
        """Stop the gateway and start a new one (it reads its settings and secrets anew),
        with ``settings`` in its environment on top of the stack's."""
        assert self.gateway is not None
        terminate(self.gateway)
        with (self.root / "gateway.log").open("ab") as output:
            env = {**self.env, **settings}
            self.gateway = spawn(gateway_command(self.port), env, output=output)
        self.await_health(lambda status: status in (200, 503), "the gateway to answer")

    def start_worker(self) -> None:
        self.generation += 1
        with self.worker_log(self.generation).open("ab") as output:
            self.worker = spawn(worker_command(), self.env, output=output)

    def keep_worker_running(self) -> None:
        """When supervising, start a new worker if the last one exited by itself."""
        if self.supervise and self.worker is not None and self.worker.poll() is not None:
            self.worker_restarts += 1
            self.start_worker()

    def worker_log(self, generation: int) -> Path:
        return self.root / f"worker-{generation}.log"

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a crash would."""
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(STOP_TIMEOUT_S)

    def stop_worker(self) -> float:
        """SIGTERM the worker's main process alone (as docker stop does); seconds to exit."""
        assert self.worker is not None
        started = time.monotonic()
        self.worker.send_signal(signal.SIGTERM)
        self.worker.wait(STOP_TIMEOUT_S)
        return time.monotonic() - started

    def stop_mongo(self) -> None:
        self.mongo_server.stop()

    def start_mongo(self) -> None:
        self.mongo_server = ensure_mongo(self.mongo_url, self.root)

    def stop_redis(self) -> None:
        self.redis_server.stop()

    def start_redis(self) -> None:
        self.redis_server = ensure_redis(self.redis_url, self.root)

    def close(self) -> None:
        """Stop everything; the worker and the gateway are killed (the test is over)."""
        for process in (self.gateway, self.worker):
            if process is not None:
                kill_group(process, STOP_TIMEOUT_S)
        self.redis.close()
        self._mongo.close()
        for server in (self.mongo_server, self.redis_server):
            _stop_if_running(server)

    def worker_log_count(self, text: str) -> int:
        """How many lines of all the worker generations' logs contain ``text``."""
        return sum(
            line.count(text)
            for generation in range(1, self.generation + 1)
            for line in self.worker_log(generation).read_text(errors="replace").splitlines()
        )

    def log_tails(self) -> str:
        logs = [self.root / "gateway.log", self.worker_log(self.generation)]
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-_LOG_TAIL_CHARS:]}"
            for p in logs
            if p.exists()
        )

    # -- observing --------------------------------------------------------------------------

    def health(self) -> tuple[int, dict[str, Any]]:
        response = httpx.get(f"{self.base_url}/health", timeout=5)
        body: dict[str, Any] = response.json()
        return response.status_code, body

    def await_health(self, wanted: Callable[[int], bool], what: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            self.keep_worker_running()
            try:
                status, body = self.health()
            except httpx.HTTPError:
                return None
            return body if wanted(status) else None

        found: dict[str, Any] = wait_for(check, START_TIMEOUT_S, what, self.log_tails)
        return found

    def statuses(self, command_ids: Sequence[str]) -> list[str | None]:
        pipe = self.redis.pipeline(transaction=False)
        for command_id in command_ids:
            pipe.hget(keys.command(command_id), "status")
        return list(pipe.execute())

    def attempts(self, command_ids: Sequence[str]) -> list[int]:
        pipe = self.redis.pipeline(transaction=False)
        for command_id in command_ids:
            pipe.hget(keys.command(command_id), "attempts")
        return [int(a or 0) for a in pipe.execute()]

    def pending_hooks(self, command_ids: Sequence[str]) -> int:
        pipe = self.redis.pipeline(transaction=False)
        for command_id in command_ids:
            pipe.scard(keys.command_pending(command_id))
        return sum(pipe.execute())

    def worker_idle(self) -> bool:
        """The worker has no task running, reserved or scheduled (Celery's inspect)."""
        settings = Settings(BROKER_URL=self.env["BROKER_URL"])
        app = make_celery(settings)
        try:
            inspect = app.control.inspect(timeout=1.0)
            replies = [inspect.active(), inspect.reserved(), inspect.scheduled()]
        finally:
            app.close()
        if any(reply is None for reply in replies):  # the worker did not answer
            return False
        return not any(tasks for reply in replies for tasks in reply.values())

    def await_all_done(self, command_ids: Sequence[str], timeout_s: float) -> None:
        """Every command succeeded and every hook it caused has run."""

        def done() -> bool:
            self.keep_worker_running()
            counts = Counter(self.statuses(command_ids))
            return counts["succeeded"] == len(command_ids) and not self.pending_hooks(command_ids)

        wait_for(done, timeout_s, f"{len(command_ids)} commands and their hooks", self.log_tails)

    def admin_headers(self) -> dict[str, str]:
        """Auth headers of the admin bootstrapped through HOOKLINE_ADMIN_EMAILS (made once)."""
        if self._admin is None:
            from tests.e2e.helpers import PASSWORD, bearer, login, register

            user = {"email": "operator@faults.test", "username": "operator", "password": PASSWORD}
            with httpx.Client(base_url=self.base_url, timeout=30) as client:
                register(client, user)
                self._admin = bearer(login(client, user))
        return self._admin


def _stop_if_running(server: ServerHandle) -> None:
    if server.process is not None and server.process.poll() is None:
        server.stop()


def wait_for(
    check: Callable[[], Any],
    timeout_s: float,
    what: str,
    context: Callable[[], str] = lambda: "",
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            waited = f"timed out after {timeout_s:.0f} s waiting for {what}"
            raise AssertionError(f"{waited}\n{context()}")
        time.sleep(POLL_S)


@dataclass(frozen=True)
class Submission:
    status: int
    command_id: str | None
    problem: dict[str, Any] | None = None
    retry_after: str | None = None


@dataclass
class Deposits:
    """HTTP deposits of ``amount`` to one user, submitted concurrently."""

    base_url: str
    auth: dict[str, str]
    amount: int = 1
    concurrency: int = 40
    results: list[Submission] = field(default_factory=list)

    def submit(self, count: int, pause_s: float = 0.0) -> list[Submission]:
        """Submit ``count`` deposits without waiting for them; each answer is kept."""
        batch = asyncio.run(self._submit_all(count, pause_s))
        self.results += batch
        return batch

    async def _submit_all(self, count: int, pause_s: float) -> list[Submission]:
        limit = asyncio.Semaphore(self.concurrency)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:

            async def one(index: int) -> Submission:
                await asyncio.sleep(index * pause_s)
                async with limit:
                    return await self._one(client)

            return await asyncio.gather(*(one(i) for i in range(count)))

    async def _one(self, client: httpx.AsyncClient) -> Submission:
        response = await client.post(
            "/wallet/deposit", json={"amount": self.amount}, headers=self.auth
        )
        if response.status_code == 202:
            return Submission(202, response.json()["command_id"])
        retry_after = response.headers.get("retry-after")
        return Submission(response.status_code, None, response.json(), retry_after)

    @property
    def accepted(self) -> list[str]:
        return [s.command_id for s in self.results if s.status == 202 and s.command_id]


def broker_url_for(broker: str) -> str | None:
    """``None`` (the stack's own Redis) for "redis"; the test RabbitMQ, emptied, for
    "rabbitmq" (skipped where nothing answers there)."""
    if broker != "rabbitmq":
        return None
    url = rabbitmq_or_skip()
    purge_queues({"BROKER_URL": url})
    return url


def sign_up(base_url: str) -> tuple[str, dict[str, str]]:
    from tests.e2e.helpers import signed_up

    with httpx.Client(base_url=base_url, timeout=30) as client:
        return signed_up(client)


def assert_deposits_applied_once(
    store: Database[Doc], user_id: str, command_ids: Sequence[str], welcome: int = 100
) -> None:
    """One ledger entry per command and no other, the exact balance, every hook effect once."""
    ledger = list(store["wallet_ledger"].find({"user_id": user_id, "kind": "deposit"}))
    assert sorted(e["_id"] for e in ledger) == sorted(command_ids)
    wallet = store["wallet_wallets"].find_one({"_id": user_id})
    assert wallet is not None
    assert wallet["balance"] == welcome + sum(e["delta"] for e in ledger)
    assert wallet["ops_in_flight"] == []
    credited = {"user_id": user_id, "event": "wallet_credited"}
    assert store["notifications_messages"].count_documents(credited) == len(command_ids) + 1
    audited = {"payload.user_id": user_id, "event": "wallet_credited"}
    assert store["audit_events"].count_documents(audited) == len(command_ids) + 1


def iterate_progress(
    stack: FaultStack, command_ids: Sequence[str], timeout_s: float
) -> Iterator[tuple[float, list[str | None]]]:
    """(now, statuses) every poll until all succeeded; fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        statuses = stack.statuses(command_ids)
        now = time.monotonic()
        yield now, statuses
        if statuses.count("succeeded") == len(command_ids):
            return
        if now > deadline:
            counts = Counter(statuses)
            late = f"not all done in {timeout_s:.0f} s: {counts}"
            raise AssertionError(f"{late}\n{stack.log_tails()}")
        time.sleep(POLL_S)
