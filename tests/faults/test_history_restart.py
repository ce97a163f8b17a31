"""The command history survives a restart of every process: gateway, worker, Redis and
the MongoDB-protocol server all stopped and started again, the commands' Redis documents
gone meanwhile, and the console still lists and shows them with their hooks."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core import keys
from tests.e2e.helpers import PASSWORD
from tests.faults.conftest import StackFactory
from tests.faults.harness import Deposits, FaultStack, sign_up

pytestmark = pytest.mark.faults

DEPOSITS = 3
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@contextlib.contextmanager
def console_client(stack: FaultStack) -> Iterator[httpx.Client]:
    """Signed in to the console as the stack's bootstrapped admin."""
    stack.admin_headers()  # registers operator@faults.test, an admin through HOOKLINE_ADMIN_EMAILS
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        yield _signed_in(client)


def _signed_in(client: httpx.Client) -> httpx.Client:
    form = client.get("/console/signin")
    found = CSRF.search(form.text)
    assert found, form.text
    signed = client.post(
        "/console/signin",
        data={"csrf": found.group(1), "email": "operator@faults.test", "password": PASSWORD},
    )
    assert signed.status_code == 303, signed.text
    return client


def summary(client: httpx.Client, command_id: str) -> dict[str, Any]:
    answer = client.get(f"/console/commands/{command_id}/live")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()["summary"]
    return found


def restart_everything(stack: FaultStack, command_ids: list[str]) -> None:
    assert stack.gateway is not None
    stack.kill_worker()
    stack.gateway.kill()
    stack.gateway.wait(30)
    stack.redis.delete(*(keys.command(c) for c in command_ids))  # only the history is left
    stack.stop_redis()
    stack.stop_mongo()
    stack.start_mongo()
    stack.start_redis()
    stack.start()


def test_the_history_survives_a_restart_of_every_process(fault_stack: StackFactory) -> None:
    stack = fault_stack()
    user_id, auth = sign_up(stack.base_url)
    deposits = Deposits(stack.base_url, auth)
    deposits.submit(DEPOSITS)
    command_ids = deposits.accepted
    assert len(command_ids) == DEPOSITS
    stack.await_all_done(command_ids, timeout_s=60)
    with console_client(stack) as client:
        before = [summary(client, c) for c in command_ids]
    assert all(len(s["hook_runs"]) == 3 for s in before)  # notify, audit, webhooks fan-out

    restart_everything(stack, command_ids)

    assert stack.statuses(command_ids) == [None] * DEPOSITS
    with console_client(stack) as client:
        after = [summary(client, c) for c in command_ids]
        listed = client.get(
            "/console/commands", params={"owner": f"user:{user_id}", "name": "wallet.deposit"}
        )
    assert after == before
    assert all(s["status"] == "succeeded" for s in after)
    assert all(c in listed.text for c in command_ids)
