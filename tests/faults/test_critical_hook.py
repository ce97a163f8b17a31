"""A critical hook holds back the later hooks of its event until a retry of it succeeds.

``wallet.open_wallet`` is critical on ``user_created``: a user whose wallet could
not be opened gets no welcome message and no audit record of their registration
yet. The poison is bad data, as in real life: a wallet document for the new user
is already there and corrupt (its balance is a string, as a bad import would
leave it), so opening the wallet raises TypeError on every try. The test learns
the new user's id while the worker is stopped (it derives from the command id),
plants the document, starts the worker, watches the hook fail, repairs the
document and watches the next retry succeed and the held-back hooks run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from events import utc_now
from modules.user_management import UserManagementModule
from tests.e2e.helpers import bearer, claim, new_user, register
from tests.faults.conftest import StackFactory
from tests.faults.harness import FaultStack, wait_for

pytestmark = pytest.mark.faults

# Retries enough that the hook is still being retried when the data is repaired
# (the fault stack's backoff is at most 2 s), so a retry, not a replay, recovers it.
POISON_RETRIES = 40
OPEN_WALLET = "wallet.open_wallet"
LATER_HOOKS = ["notifications.notify", "audit.record", "webhooks.fan_out"]
HELD_S = 30.0
RECOVERY_S = 30.0

Run = tuple[str, str, int]  # (module.handler, status, attempts)


@dataclass(frozen=True)
class Registration:
    """A register command, the user it creates and the claim that reads its document."""

    user: dict[str, str]
    command_id: str
    user_id: str
    claim: dict[str, str]


def hook_runs(document: dict[str, Any], event: str) -> list[Run]:
    """The trace's runs of ``event``'s hooks, in the order they ran."""
    return [
        (f"{h['module']}.{h['handler']}", h["status"], h["attempts"])
        for h in document["hooks"]
        if h["event"] == event
    ]


def read(client: httpx.Client, registration: Registration) -> dict[str, Any]:
    """The register command's document from ``GET /commands/{id}``."""
    response = client.get(f"/commands/{registration.command_id}", headers=registration.claim)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def register_with_corrupt_wallet(stack: FaultStack, client: httpx.Client) -> Registration:
    """Submit a registration while no worker runs, plant its user's corrupt wallet, go on."""
    stack.stop_worker()
    user = new_user()
    response = client.post("/public/register", json=user)
    assert response.status_code == 202, response.text
    command_id: str = response.json()["command_id"]
    user_id = UserManagementModule.user_id_for(command_id)
    stack.store["wallet_wallets"].insert_one(
        {
            "_id": user_id,
            "balance": "corrupt",
            "version": 0,
            "ops_in_flight": [],
            "created_at": utc_now(),
        }
    )
    stack.start_worker()
    return Registration(user, command_id, user_id, claim(response))


def effects(stack: FaultStack, user_id: str) -> dict[str, int]:
    """What the hooks of a user's registration leave in MongoDB, counted."""
    store = stack.store
    audited = {"payload.user_id": user_id}
    return {
        "ledger": store["wallet_ledger"].count_documents({"user_id": user_id}),
        "messages": store["notifications_messages"].count_documents({"user_id": user_id}),
        "audit_user_created": store["audit_events"].count_documents(
            {**audited, "event": "user_created"}
        ),
        "audit_wallet_credited": store["audit_events"].count_documents(
            {**audited, "event": "wallet_credited"}
        ),
    }


NONE_YET = {"ledger": 0, "messages": 0, "audit_user_created": 0, "audit_wallet_credited": 0}
ONCE_EACH = {"ledger": 1, "messages": 2, "audit_user_created": 1, "audit_wallet_credited": 1}


def await_failed_retries(stack: FaultStack, client: httpx.Client, ada: Registration) -> int:
    """Wait until open_wallet failed on its first try and on a retry; the tries so far."""

    def failed_twice() -> list[Run] | None:
        runs = [r for r in hook_runs(read(client, ada), "user_created") if r[0] == OPEN_WALLET]
        return runs if len(runs) >= 2 else None

    runs: list[Run] = wait_for(failed_twice, HELD_S, "open_wallet to fail twice", stack.log_tails)
    return len(runs)


def check_held_back(stack: FaultStack, client: httpx.Client, ada: Registration) -> None:
    """Only open_wallet has run on user_created, and failed every time; nothing after it."""
    document = read(client, ada)
    assert document["status"] == "succeeded"  # the command did its part; its hooks did not
    assert document["hooks_pending"] > 0
    runs = hook_runs(document, "user_created")
    assert runs == [(OPEN_WALLET, "failed", n) for n in range(1, len(runs) + 1)]
    assert {h["event"] for h in document["hooks"]} == {"user_created"}  # no wallet_credited
    assert "TypeError" in document["hooks"][0]["error"]
    assert effects(stack, ada.user_id) == NONE_YET


def check_bystander(stack: FaultStack, client: httpx.Client) -> None:
    """Another user registering meanwhile gets every hook at once, in order, once each."""
    user = new_user()
    response = register(client, user)
    assert response.status_code == 201, response.text
    document = client.get(response.headers["Location"], headers=claim(response)).json()
    assert document["hooks_pending"] == 0
    ran = [(OPEN_WALLET, "succeeded", 1)] + [(h, "succeeded", 1) for h in LATER_HOOKS]
    assert hook_runs(document, "user_created") == ran
    assert hook_runs(document, "wallet_credited") == [(h, "succeeded", 1) for h in LATER_HOOKS]
    assert effects(stack, response.json()["user_id"]) == ONCE_EACH


def check_other_events_run(client: httpx.Client, ada: Registration) -> dict[str, str]:
    """The held-back user logs in and that event's hooks run: only user_created's wait."""
    credentials = {"email": ada.user["email"], "password": ada.user["password"]}
    response = client.post("/public/login", json=credentials, headers={"Prefer": "wait=10"})
    assert response.status_code == 200, response.text
    document = client.get(response.headers["Location"], headers=claim(response)).json()
    assert hook_runs(document, "user_logged_in") == [
        ("audit.record", "succeeded", 1),
        ("webhooks.fan_out", "succeeded", 1),
    ]
    return bearer(response.json())


def await_recovery(stack: FaultStack, client: httpx.Client, ada: Registration) -> float:
    """Repair the wallet document; seconds until every hook of the registration has run."""
    repaired = stack.store["wallet_wallets"].update_one(
        {"_id": ada.user_id}, {"$set": {"balance": 0}}
    )
    assert repaired.modified_count == 1
    started = time.monotonic()
    wait_for(
        lambda: read(client, ada)["hooks_pending"] == 0,
        RECOVERY_S,
        "the held-back hooks to run",
        stack.log_tails,
    )
    return time.monotonic() - started


def check_recovered(
    stack: FaultStack, client: httpx.Client, ada: Registration, auth: dict[str, str]
) -> int:
    """open_wallet's retry succeeded, then notify and audit ran, in order, once each.

    Returns the number of tries open_wallet took.
    """
    document = read(client, ada)
    runs = hook_runs(document, "user_created")
    tries = len(runs) - len(LATER_HOOKS)
    failed = [(OPEN_WALLET, "failed", n) for n in range(1, tries)]
    later = [(h, "succeeded", 1) for h in LATER_HOOKS]
    assert runs == [*failed, (OPEN_WALLET, "succeeded", tries), *later]
    assert hook_runs(document, "wallet_credited") == later
    assert effects(stack, ada.user_id) == ONCE_EACH
    assert client.get("/wallet/balance", headers=auth).json()["balance"] == 100
    inbox = client.get("/notifications", headers=auth).json()["items"]
    assert sorted(m["event"] for m in inbox) == ["user_created", "wallet_credited"]
    return tries


@pytest.mark.timeout(120)
def test_a_failing_critical_hook_holds_back_the_later_hooks_until_its_retry_succeeds(
    fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    """open_wallet fails on a corrupt wallet: no welcome message, no audit record, while a
    bystander's registration runs every hook; once repaired, open_wallet's next retry
    succeeds and notify and audit run after it, in order, once each."""
    stack = fault_stack(HOOKLINE_POISON_MAX_RETRIES=str(POISON_RETRIES))
    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        ada = register_with_corrupt_wallet(stack, client)
        await_failed_retries(stack, client, ada)
        check_held_back(stack, client, ada)
        check_bystander(stack, client)
        auth = check_other_events_run(client, ada)
        check_held_back(stack, client, ada)
        recovery_s = await_recovery(stack, client, ada)
        tries = check_recovered(stack, client, ada, auth)
    figures(open_wallet_tries=tries, later_hooks_done_after_repair_s=recovery_s)
