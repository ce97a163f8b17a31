"""Shared fixtures: real servers, a per-test database, and a running Hookline stack.

The stack fixture starts what ``make up`` starts — a Celery worker process and
uvicorn — against the session's Redis and MongoDB-protocol server, and tests
talk to it over real HTTP.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pymongo import MongoClient
from pymongo.database import Database

from hookline.processes import spawn
from hookline.stack import (
    SOFT_SHUTDOWN_ENV,
    ensure_local_secrets,
    gateway_command,
    worker_command,
    worker_env,
)
from tests.e2e.helpers import PASSWORD, bearer, login, register
from tests.stack_fixtures import (
    TEST_WORKER_ENV,
    Servers,
    free_port,
    kill_group,
    purge_queues,
    rabbitmq_or_skip,
    servers,
)

__all__ = ["servers"]

STACK_START_TIMEOUT_S = 60.0
# Registering with this email makes an admin (HOOKLINE_ADMIN_EMAILS of the test stack).
ADMIN_EMAIL = "root@hookline.test"
# The longest an account waits between logins after failures, on the test stack.
LOGIN_LOCK_MAX_S = 3
# The admin logs in again after this long (its access token lives 15 minutes).
ADMIN_RELOGIN_S = 600


@dataclass(frozen=True)
class RunningStack:
    base_url: str
    env: dict[str, str]
    data_dir: Path
    log_dir: Path | None = None

    @property
    def worker_metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.env['HOOKLINE_WORKER_METRICS_PORT']}/metrics"


# Webhook receivers run on loopback in the tests; tries come quickly, eight over a minute
# (a receiver down for 30 s still gets its deliveries), and an endpoint failing that long is
# not disabled (tests/e2e/test_webhook_endpoints.py disables one on a stack of its own).
WEBHOOK_TEST_ENV = {
    "HOOKLINE_WEBHOOKS_ALLOWED_HOSTS": "127.0.0.1",
    "HOOKLINE_WEBHOOKS_RETRY_SCHEDULE_S": "0,1,1,2,4,8,16,32",
    "HOOKLINE_WEBHOOKS_TIMEOUT_S": "5",
    "HOOKLINE_WEBHOOKS_TICK_S": "0.2",
}


@pytest.fixture
def mongo_db(servers: Servers) -> Iterator[Database[dict[str, Any]]]:
    """A fresh database for one test, dropped afterwards."""
    client: MongoClient[dict[str, Any]] = MongoClient(servers.mongo_url, tz_aware=True)
    name = f"contract_{uuid.uuid4().hex[:12]}"
    yield client[name]
    client.drop_database(name)
    client.close()


@pytest.fixture(scope="session")
def stack_env(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment a worker and a gateway get, as ``make up`` would set it."""
    data_dir = tmp_path_factory.mktemp("hookline")
    ensure_local_secrets(data_dir)
    return {
        **os.environ,
        **SOFT_SHUTDOWN_ENV,
        **TEST_WORKER_ENV,
        "REDIS_URL": servers.redis_url,
        "BROKER_URL": servers.redis_url,
        "MONGO_URL": servers.mongo_url,
        "HOOKLINE_DATA_DIR": str(data_dir),
        "HOOKLINE_MONGO_DB": f"hookline_test_{uuid.uuid4().hex[:8]}",
        "HOOKLINE_ADMIN_EMAILS": ADMIN_EMAIL,
        # Every e2e test calls from 127.0.0.1: limits are tested on a gateway of their own.
        "HOOKLINE_RATE_LIMITS_ENABLED": "false",
        "HOOKLINE_MAX_COMMANDS_IN_FLIGHT": "1000",
        # Some e2e tests wait on hundreds of commands at once as one user.
        "HOOKLINE_MAX_OPEN_WAITS_PER_CALLER": "1000",
        "HOOKLINE_WORKER_METRICS_PORT": str(free_port()),
        # An account closed by failed logins reopens within seconds (tests/security).
        "HOOKLINE_USER_MANAGEMENT_LOGIN_LOCK_MAX_S": str(LOGIN_LOCK_MAX_S),
        **WEBHOOK_TEST_ENV,
    }


@pytest.fixture(scope="session")
def stack(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    """A Celery worker (prefork, 2 processes) and a uvicorn gateway, for the whole session."""
    redis.Redis.from_url(stack_env["REDIS_URL"]).flushdb()
    with running_stack(stack_env, tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture(scope="module")
def rabbitmq_stack(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    """The same pipeline with RabbitMQ as the broker (state stays in Redis).

    Module-scoped, so no consumer of these queues outlives the module using it.
    """
    env = {
        **stack_env,
        "BROKER_URL": rabbitmq_or_skip(),
        "HOOKLINE_MONGO_DB": stack_env["HOOKLINE_MONGO_DB"] + "_amqp",
        # Its own metrics port and directory: a worker clears its directory when it starts.
        "HOOKLINE_WORKER_METRICS_PORT": str(free_port()),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("metrics-amqp")),
    }
    purge_queues(env)
    with running_stack(env, tmp_path_factory.mktemp("logs-amqp")) as running:
        yield running


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def pipeline(request: pytest.FixtureRequest) -> RunningStack:
    """The running stack on each broker: Redis, then RabbitMQ where it answers."""
    running: RunningStack = request.getfixturevalue(
        "stack" if request.param == "redis" else "rabbitmq_stack"
    )
    return running


@pytest.fixture
def pipeline_client(pipeline: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pipeline.base_url, timeout=40) as c:
        yield c


@pytest.fixture
def pipeline_store(pipeline: RunningStack) -> Iterator[Database[dict[str, Any]]]:
    """The database the pipeline's workers write to."""
    client: MongoClient[dict[str, Any]] = MongoClient(pipeline.env["MONGO_URL"], tz_aware=True)
    yield client[pipeline.env["HOOKLINE_MONGO_DB"]]
    client.close()


@contextlib.contextmanager
def running_stack(env: dict[str, str], logs: Path) -> Iterator[RunningStack]:
    """A worker and a gateway with ``env``, healthy, stopped on exit; their logs in ``logs``."""
    port = free_port()
    with (
        (logs / "worker.log").open("wb") as worker_log,
        (logs / "gateway.log").open("wb") as gw_log,
    ):
        worker = spawn(
            worker_command(), worker_env(env, Path(env["HOOKLINE_DATA_DIR"])), output=worker_log
        )
        gateway = spawn(gateway_command(port), env, output=gw_log)
        try:
            base_url = f"http://127.0.0.1:{port}"
            await_healthy(base_url, [worker, gateway], [logs / "worker.log", logs / "gateway.log"])
            yield RunningStack(base_url, env, Path(env["HOOKLINE_DATA_DIR"]), logs)
        finally:  # its tests are over: killed, not stopped gracefully
            kill_group(gateway)
            kill_group(worker)


def await_healthy(base_url: str, processes: list[Any], log_paths: list[Path]) -> None:
    deadline = time.monotonic() + STACK_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            break
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    tails = "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in log_paths)
    pytest.fail(f"the stack did not become healthy:\n{tails}")


@pytest.fixture
def client(stack: RunningStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=40) as c:
        yield c


@pytest.fixture
def redis_client(stack: RunningStack) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(stack.env["REDIS_URL"], decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def store(stack: RunningStack) -> Iterator[Database[dict[str, Any]]]:
    """The database the running workers write to, for asserting on what they stored."""
    client: MongoClient[dict[str, Any]] = MongoClient(stack.env["MONGO_URL"], tz_aware=True)
    yield client[stack.env["HOOKLINE_MONGO_DB"]]
    client.close()


@dataclass
class AdminLogin:
    """The bootstrapped admin, registered once; its access token renewed before it expires
    (15 minutes), which a whole run outlasts."""

    base_url: str
    user: dict[str, str]
    headers: dict[str, str] | None = None
    logged_in_at: float = 0.0

    def current(self) -> dict[str, str]:
        if self.headers is None or time.monotonic() - self.logged_in_at > ADMIN_RELOGIN_S:
            with httpx.Client(base_url=self.base_url, timeout=40) as client:
                self.headers = bearer(login(client, self.user))
            self.logged_in_at = time.monotonic()
        return self.headers


@pytest.fixture(scope="session")
def admin_login(stack: RunningStack) -> AdminLogin:
    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        user = {"email": ADMIN_EMAIL, "username": "root_admin", "password": PASSWORD}
        response = register(client, user)
        assert response.status_code == 201, response.text
        assert "admin" in response.json()["roles"]
    return AdminLogin(stack.base_url, user)


@pytest.fixture
def admin(admin_login: AdminLogin) -> dict[str, str]:
    """Auth headers of the admin bootstrapped through HOOKLINE_ADMIN_EMAILS."""
    return admin_login.current()
