"""A module that fails to start is reported unhealthy; its dependents are skipped; the rest run."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from hookline.processes import spawn, terminate
from hookline.stack import (
    ensure_local_secrets,
    ensure_redis,
    gateway_command,
    worker_command,
)
from tests.conftest import ADMIN_EMAIL, await_healthy
from tests.e2e.helpers import PASSWORD, bearer, login, new_user, register
from tests.stack_fixtures import Servers, free_port

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class BrokenStack:
    base_url: str
    admin: dict[str, str]  # module status needs health:read


@pytest.fixture
def broken_wallet_stack(servers: Servers, tmp_path: Path) -> Iterator[BrokenStack]:
    """A worker and gateway on their own Redis, with the wallet's welcome_credits misconfigured."""
    redis_server = ensure_redis(f"redis://127.0.0.1:{free_port()}/0", tmp_path)
    ensure_local_secrets(tmp_path)
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "BROKER_URL": redis_server.url,
        "MONGO_URL": servers.mongo_url,
        "HOOKLINE_DATA_DIR": str(tmp_path),
        "HOOKLINE_MONGO_DB": f"broken_{tmp_path.name[-8:]}",
        "HOOKLINE_WALLET_WELCOME_CREDITS": "lots",
        "HOOKLINE_ADMIN_EMAILS": ADMIN_EMAIL,
    }
    port = free_port()
    with (tmp_path / "out.log").open("wb") as out:
        worker = spawn(worker_command(), env, output=out)
        gateway = spawn(gateway_command(port), env, output=out)
        try:
            base_url = f"http://127.0.0.1:{port}"
            await_healthy(base_url, [worker, gateway], [tmp_path / "out.log"])
            yield BrokenStack(base_url, admin_of(base_url))
        finally:
            terminate(gateway)
            terminate(worker)
            redis_server.stop()


def admin_of(base_url: str) -> dict[str, str]:
    """Auth headers of the admin HOOKLINE_ADMIN_EMAILS makes on this stack."""
    user = {"email": ADMIN_EMAIL, "username": "root_admin", "password": PASSWORD}
    with httpx.Client(base_url=base_url, timeout=30) as client:
        assert register(client, user).status_code == 201
        return bearer(login(client, user))


def module_states(stack: BrokenStack) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{stack.base_url}/modules/status", headers=stack.admin, timeout=2)
            if response.status_code == 200:
                return {m["name"]: m for m in response.json()["modules"]}
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail("no worker reported its modules")


def test_failed_module_is_unhealthy_and_the_rest_serve(broken_wallet_stack: BrokenStack) -> None:
    """wallet fails on a bad secret; transactions and notifications skip; users still work."""
    modules = module_states(broken_wallet_stack)
    assert modules["wallet"]["state"] == "failed"
    assert "welcome_credits" in modules["wallet"]["reason"]
    assert {modules[m]["state"] for m in ("transactions", "notifications")} == {"skipped"}
    assert {modules[m]["state"] for m in ("user_management", "audit")} == {"loaded"}
    url = f"{broken_wallet_stack.base_url}/modules/wallet/health"
    health = httpx.get(url, headers=broken_wallet_stack.admin, timeout=5)
    assert health.status_code == 503 and health.json()["status"] == "unhealthy"
    with httpx.Client(base_url=broken_wallet_stack.base_url, timeout=30) as client:
        assert register(client, new_user()).status_code == 201
