"""Fixtures for the attack tests: the stack's signing secret, an admin, a rate-limited gateway.

The session stack runs with rate limits off (every e2e test calls from
127.0.0.1). Limits are attacked on a second gateway with tight limits, which
believes X-Forwarded-For only from 127.0.0.2: tests connect from that address to
play a trusted proxy and give each test a client address of its own. Its broker
is in memory and nobody consumes it, so its commands stay in flight. A third
gateway, ``guarded``, has the limits a deployment has (the routes' own, 10/minute
on login) behind the same trusted proxy, on the session stack's broker: its
commands run, so an attack spread over addresses can be played to the end.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pymongo.database import Database

from core import keys
from core.settings import Settings
from hookline.processes import spawn, terminate
from hookline.role_commands import AdminAction, change_admin_role
from hookline.stack import gateway_command
from tests.conftest import RunningStack, await_healthy
from tests.e2e.helpers import bearer, login, new_user, register
from tests.stack_fixtures import free_port

PROXY_ADDRESS = "127.0.0.2"
MONGO_DB = "HOOKLINE_MONGO_DB"
LIMITS = {
    "per_ip": 20,
    "per_user": 8,
    "per_api_key": 8,
    "login": 3,
    "violations": 3,
    "ban_s": 120,
    "in_flight": 3,
}
Doc = dict[str, Any]


@dataclass(frozen=True)
class LimitedGateway:
    base_url: str

    def direct(self) -> httpx.Client:
        """A client connecting from 127.0.0.1, which the gateway does not trust as a proxy."""
        return httpx.Client(base_url=self.base_url, timeout=40)

    def via_proxy(self, client_ip: str) -> httpx.Client:
        """A client connecting from the trusted proxy, forwarding for ``client_ip``."""
        transport = httpx.HTTPTransport(local_address=PROXY_ADDRESS)
        return httpx.Client(
            base_url=self.base_url,
            timeout=40,
            transport=transport,
            headers={"X-Forwarded-For": client_ip},
        )


@pytest.fixture(scope="session")
def jwt_secret(stack: RunningStack) -> str:
    """The HS256 secret the stack signs with (from its local secrets directory)."""
    return (stack.data_dir / "secrets" / "jwt_secret").read_text().strip()


@pytest.fixture(scope="session")
def limited(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LimitedGateway]:
    """A second gateway on the same stores, with tight limits and an unconsumed broker."""
    with limited_gateway(stack, tmp_path_factory) as gateway:
        yield gateway


@pytest.fixture(scope="session")
def limited_twin(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LimitedGateway]:
    """Another process like ``limited``: limits, bans and caps must hold across the two."""
    with limited_gateway(stack, tmp_path_factory) as gateway:
        yield gateway


@contextlib.contextmanager
def limited_gateway(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LimitedGateway]:
    env = {
        **stack.env,
        "BROKER_URL": "memory://",
        "HOOKLINE_RATE_LIMITS_ENABLED": "true",
        "HOOKLINE_RATE_LIMIT_PER_IP": f"{LIMITS['per_ip']}/minute",
        "HOOKLINE_RATE_LIMIT_PER_USER": f"{LIMITS['per_user']}/minute",
        "HOOKLINE_RATE_LIMIT_PER_API_KEY": f"{LIMITS['per_api_key']}/minute",
        "HOOKLINE_ROUTE_RATE_LIMITS": json.dumps({"user_management.login": "3/minute"}),
        "HOOKLINE_BAN_AFTER_VIOLATIONS": f"{LIMITS['violations']}/minute",
        "HOOKLINE_BAN_DURATION_S": str(LIMITS["ban_s"]),
        "HOOKLINE_TRUSTED_PROXIES": PROXY_ADDRESS,
        "HOOKLINE_MAX_COMMANDS_IN_FLIGHT": str(LIMITS["in_flight"]),
    }
    with gateway_alone(env, tmp_path_factory.mktemp("limited") / "gateway.log") as gateway:
        yield gateway


@pytest.fixture(scope="session")
def guarded(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LimitedGateway]:
    """A second gateway on the session stack, its broker included, with the default limits
    on and the proxy trusted: what a deployment answers, one client address per test."""
    env = {
        **stack.env,
        "HOOKLINE_RATE_LIMITS_ENABLED": "true",
        "HOOKLINE_TRUSTED_PROXIES": PROXY_ADDRESS,
    }
    with gateway_alone(env, tmp_path_factory.mktemp("guarded") / "gateway.log") as gateway:
        yield gateway


@contextlib.contextmanager
def gateway_alone(env: dict[str, str], log_path: Path) -> Iterator[LimitedGateway]:
    """A gateway process with ``env``, healthy, stopped on exit; its log at ``log_path``."""
    port = free_port()
    with log_path.open("wb") as log:
        gateway = spawn(gateway_command(port), env, output=log)
        try:
            base_url = f"http://127.0.0.1:{port}"
            await_healthy(base_url, [gateway], [log_path])
            yield LimitedGateway(base_url)
        finally:
            terminate(gateway)


def hookline_admin(
    stack: RunningStack, action: str, email: str, *options: str
) -> subprocess.CompletedProcess[str]:
    """``hookline admin ACTION EMAIL [OPTIONS]`` against the stack's stores."""
    return subprocess.run(
        [sys.executable, "-m", "hookline", "admin", action, email, *options],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def stores_of(stack: RunningStack) -> Settings:
    """Settings naming the stack's stores, as ``hookline admin`` run there would read them."""
    env = stack.env
    return Settings.model_validate(
        {"REDIS_URL": env["REDIS_URL"], "MONGO_URL": env["MONGO_URL"], "mongo_db": env[MONGO_DB]}
    )


def user_with_role(stack: RunningStack, client: httpx.Client, role: str) -> dict[str, str]:
    """A new user granted ``role`` as ``hookline admin grant`` does it; the user as registered."""
    user = new_user()
    assert register(client, user).status_code == 201
    change_admin_role(stores_of(stack), user["email"], AdminAction.GRANT, role)
    return user


def signed_in_as(stack: RunningStack, client: httpx.Client, role: str) -> dict[str, str]:
    """Auth headers of a new user holding ``role``."""
    return bearer(login(client, user_with_role(stack, client, role)))


def mint(client: httpx.Client, auth: dict[str, str], *scopes: str) -> httpx.Response:
    body = {"name": "billing service", "scopes": list(scopes)}
    return client.post("/admin/api-keys", json=body, headers={**auth, "Prefer": "wait=10"})


def minted(client: httpx.Client, auth: dict[str, str], *scopes: str) -> dict[str, Any]:
    response = mint(client, auth, *scopes)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def key_header(created: dict[str, Any]) -> dict[str, str]:
    return {"X-API-Key": created["api_key"]}


def commands_of(redis_client: redis.Redis, principal: str) -> int:
    """How many command documents ``principal`` owns in Redis."""
    documents = [name for name in redis_client.scan_iter(keys.command("*")) if name.count(":") == 2]
    return sum(redis_client.hget(name, "owner") == principal for name in documents)


def nowhere() -> str:
    """A command document that does not exist: admitted, then 404, writing nothing."""
    return f"/commands/{uuid.uuid4().hex}"


def unique_ip() -> str:
    """A client address no other test uses (10.0.0.0/8, from a random id)."""
    raw = uuid.uuid4().bytes
    return f"10.{raw[0]}.{raw[1]}.{raw[2]}"


def ledger_count(store: Database[Doc], user_id: str) -> int:
    return store["wallet_ledger"].count_documents({"user_id": user_id})


def assert_refused(response: httpx.Response, status: int) -> None:
    """``status`` as a problem document, and no command was accepted (no Location)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "Location" not in response.headers
