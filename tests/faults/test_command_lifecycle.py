"""The command lifecycle where workers stop and restart: deadlines, cancels, the schedule.

One private stack for the module, with a visibility timeout (7 s) shorter than the
delay of the scheduled command below, a command TTL of 15 s (so expiry is seen within
the test), transfers held 2 s at a failpoint (so one can be caught running) and the
test-only ``chores`` module, whose route is cancellable (``tests/e2e/chores``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core import keys
from events import new_command_id
from tests.e2e import chores
from tests.e2e.helpers import PASSWORD, register
from tests.faults.harness import FaultStack, sign_up, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

REPO_ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    "HOOKLINE_TASK_TIME_LIMIT_S": "4",
    "HOOKLINE_RETRY_BACKOFF_MAX_S": "1",
    "HOOKLINE_VISIBILITY_TIMEOUT_S": "7",
    "HOOKLINE_COMMAND_TTL_S": "15",
    "HOOKLINE_FAILPOINTS": "transactions.after_debit=sleep(2)",
    "HOOKLINE_MODULE_PACKAGES": f"modules,{chores.MODULE_PACKAGE}",
    "HOOKLINE_ORCHESTRATOR_PACKAGES": f"workers.orchestrators,{chores.ORCHESTRATOR_PACKAGE}",
    "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
}
DELAY_S = 9  # longer than the visibility timeout


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    running = FaultStack(tmp_path_factory.mktemp("lifecycle"), None, SETTINGS)
    try:
        running.start()
        yield running
    finally:
        running.close()


@pytest.fixture
def client(stack: FaultStack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as c:
        yield c


def submit(
    client: httpx.Client, auth: dict[str, str], path: str, body: dict[str, Any], **headers: str
) -> str:
    response = client.post(path, json=body, headers={**auth, **headers})
    assert response.status_code == 202, response.text
    command_id: str = response.json()["command_id"]
    return command_id


def document(client: httpx.Client, auth: dict[str, str], command_id: str) -> dict[str, Any]:
    response = client.get(f"/commands/{command_id}", headers=auth)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def await_status(
    client: httpx.Client, auth: dict[str, str], command_id: str, wanted: str, timeout_s: float
) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        found = document(client, auth, command_id)
        return found if found["status"] == wanted else None

    found: dict[str, Any] = wait_for(reached, timeout_s, f"{command_id} {wanted}")
    return found


def ledger_entries(stack: FaultStack, command_ids: list[str]) -> int:
    return stack.store["wallet_ledger"].count_documents({"_id": {"$in": command_ids}})


def test_a_deadline_passing_while_workers_are_stopped_expires_and_a_cancel_holds(
    stack: FaultStack, client: httpx.Client
) -> None:
    """Workers stopped: a deposit with a 2 s deadline, and a deposit cancelled while queued.
    Once the worker is back the first is ``expired`` and neither ran (no attempt, no ledger
    entry), while a deposit queued after them runs."""
    _, auth = sign_up(stack.base_url)
    stack.stop_worker()
    try:
        late = submit(client, auth, "/wallet/deposit", {"amount": 3}, **{"Command-Deadline": "2"})
        cancelled = submit(client, auth, "/wallet/deposit", {"amount": 4})
        response = client.post(f"/commands/{cancelled}/cancel", headers=auth)
        assert response.status_code == 200 and response.json()["status"] == "cancelled"
        after = submit(client, auth, "/wallet/deposit", {"amount": 5})
        time.sleep(2.5)
    finally:
        stack.start_worker()
    await_status(client, auth, after, "succeeded", 60)
    expired = await_status(client, auth, late, "expired", 10)
    assert expired["error"]["type"].endswith("/command-expired")
    for command_id in (late, cancelled):
        assert document(client, auth, command_id)["attempts"] == 0
    assert ledger_entries(stack, [late, cancelled]) == 0


def test_a_scheduled_command_survives_a_worker_restart_and_a_short_visibility_timeout(
    stack: FaultStack, client: httpx.Client
) -> None:
    """Scheduled 9 s ahead (the visibility timeout is 7 s), its worker stopped and started
    again meanwhile: it starts within a second after its time, once (one attempt, one
    ledger entry)."""
    _, auth = sign_up(stack.base_url)
    not_before = datetime.now(UTC) + timedelta(seconds=DELAY_S)
    moment = not_before.isoformat().replace("+00:00", "Z")
    command_id = submit(
        client, auth, "/wallet/deposit", {"amount": 9}, **{"Command-Not-Before": moment}
    )
    stack.stop_worker()
    time.sleep(1)
    stack.start_worker()
    done = await_status(client, auth, command_id, "succeeded", DELAY_S + 30)
    started = datetime.fromisoformat(done["started_at"])
    assert not_before <= started < not_before + timedelta(seconds=1), (not_before, started)
    assert done["attempts"] == 1
    assert ledger_entries(stack, [command_id]) == 1
    assert stack.redis.zscore(keys.SCHEDULE, command_id) is None
    time.sleep(8)  # past the visibility timeout: nothing redelivers it
    assert document(client, auth, command_id)["attempts"] == 1
    assert ledger_entries(stack, [command_id]) == 1


def test_cancelling_a_running_command_of_a_route_that_is_not_cancellable_is_409(
    stack: FaultStack, client: httpx.Client
) -> None:
    """A transfer held 2 s mid-run: its cancel is a 409, and it goes on to succeed."""
    _, auth = sign_up(stack.base_url)
    recipient = f"to_{new_command_id()[-10:]}"
    user = {"email": f"{recipient}@lifecycle.test", "username": recipient, "password": PASSWORD}
    assert register(client, user).status_code == 201
    command_id = submit(
        client, auth, "/transactions/transfer", {"to_username": recipient, "amount": 10}
    )
    await_status(client, auth, command_id, "running", 20)
    response = client.post(f"/commands/{command_id}/cancel", headers=auth)
    assert response.status_code == 409, response.text
    assert "not cancellable" in response.json()["detail"]
    await_status(client, auth, command_id, "succeeded", 20)


def test_a_command_past_its_ttl_answers_410_and_leaves_the_listing(
    stack: FaultStack, client: httpx.Client
) -> None:
    """Once its document has expired (TTL 15 s here), its id is ``410 Gone`` — not a
    ``404`` that reads as "never existed", which a fresh unknown id still gets — and the
    listing no longer shows it."""
    _, auth = sign_up(stack.base_url)
    response = client.post(
        "/wallet/deposit", json={"amount": 1}, headers={**auth, "Prefer": "wait=20"}
    )
    assert response.status_code == 200, response.text
    command_id = response.headers["Location"].rsplit("/", 1)[1]
    wait_for(lambda: not stack.redis.exists(keys.command(command_id)), 30, "the TTL to pass")
    gone = client.get(f"/commands/{command_id}", headers=auth)
    assert gone.status_code == 410, gone.text
    assert gone.json()["type"].endswith("/gone")
    assert client.get(f"/commands/{new_command_id()}", headers=auth).status_code == 404
    listed = client.get("/commands", headers=auth).json()["items"]
    assert command_id not in [item["command_id"] for item in listed]


def test_a_running_command_of_a_cancellable_route_stops_at_its_next_checkpoint(
    stack: FaultStack, client: httpx.Client
) -> None:
    """A chore of 100 steps of 0.1 s, cancelled once running: 202 with ``cancel_requested``,
    then ``cancelled`` with a command-cancelled problem, having done only some steps."""
    _, auth = sign_up(stack.base_url)
    command_id = submit(client, auth, "/chores/run", {"steps": 100, "step_s": 0.1})
    await_status(client, auth, command_id, "running", 20)
    response = client.post(f"/commands/{command_id}/cancel", headers=auth)
    assert response.status_code == 202, response.text
    assert response.json()["cancel_requested"] is True
    stopped = await_status(client, auth, command_id, "cancelled", 20)
    assert stopped["error"]["type"].endswith("/command-cancelled")
    done = stack.store["chores_steps"].count_documents({"command_id": command_id})
    assert 0 < done < 100
