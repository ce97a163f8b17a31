"""Poison: a command and a hook that always raise are tried retries + 1 times, then
dead-lettered; other work goes on; once the cause is fixed, a replay succeeds.

The poison is bad data, as in real life: one user's wallet document is corrupt
(its balance is a string), so every deposit of theirs raises TypeError; another
user's inbox view in Redis has the wrong type, so the notifications hook raises
WRONGTYPE on every event of theirs.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from core import keys
from events import DeadLetter
from modules.notifications import INBOX_VIEW, NotificationsModule
from tests.faults.conftest import StackFactory
from tests.faults.harness import (
    Deposits,
    FaultStack,
    assert_deposits_applied_once,
    sign_up,
    wait_for,
)

pytestmark = pytest.mark.faults

POISON_RETRIES = 2
HOOK = "notifications.notify"


def hookline(stack: FaultStack, *args: str) -> str:
    """Run the ``hookline`` command against the stack's stores; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "hookline", *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def document(client: httpx.Client, command_id: str, auth: dict[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = client.get(f"/commands/{command_id}", headers=auth).json()
    return found


def deposit(client: httpx.Client, auth: dict[str, str], amount: int) -> str:
    response = client.post("/wallet/deposit", json={"amount": amount}, headers=auth)
    assert response.status_code == 202, response.text
    command_id: str = response.json()["command_id"]
    return command_id


def letter(client: httpx.Client, admin: dict[str, str], letter_id: str) -> dict[str, Any]:
    response = client.get(f"/admin/dead-letters/{letter_id}", headers=admin)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def poison_inbox(
    stack: FaultStack, client: httpx.Client, user_id: str, auth: dict[str, str]
) -> None:
    """Build the user's inbox view, then give its key the wrong type."""
    assert client.get("/notifications", headers=auth).status_code == 200
    stack.redis.set(
        keys.read_model(NotificationsModule.name, INBOX_VIEW, user_id), "not a sorted set"
    )


@dataclass(frozen=True)
class Scene:
    """Ada's wallet is corrupt, Bob's inbox view too, Cy is a bystander."""

    stack: FaultStack
    client: httpx.Client
    admin: dict[str, str]
    ada: tuple[str, dict[str, str]]
    bob: tuple[str, dict[str, str]]
    ada_command: str
    bob_command: str
    bystander: Deposits

    def document(self, command_id: str, who: tuple[str, dict[str, str]]) -> dict[str, Any]:
        return document(self.client, command_id, who[1])

    def letter(self, letter_id: str) -> dict[str, Any]:
        return letter(self.client, self.admin, letter_id)

    def resolved(self, letter_id: str) -> bool:
        return bool(self.letter(letter_id)["status"] == "resolved")


def poisoned(stack: FaultStack, client: httpx.Client) -> Scene:
    """Corrupt the data, submit the deposits, wait until every one of them has settled."""
    ada, bob, cy = (sign_up(stack.base_url) for _ in range(3))
    stack.store["wallet_wallets"].update_one({"_id": ada[0]}, {"$set": {"balance": "corrupt"}})
    poison_inbox(stack, client, *bob)
    scene = Scene(
        stack,
        client,
        stack.admin_headers(),
        ada,
        bob,
        deposit(client, ada[1], 7),
        deposit(client, bob[1], 5),
        Deposits(stack.base_url, cy[1]),
    )
    scene.bystander.submit(20)
    stack.await_all_done(scene.bystander.accepted, timeout_s=60)
    assert_deposits_applied_once(stack.store, cy[0], scene.bystander.accepted)
    wait_for(lambda: scene.document(scene.ada_command, ada)["status"] == "dead", 60, "dead")
    wait_for(lambda: scene.document(scene.bob_command, bob)["hooks_pending"] == 0, 60, "hooks")
    return scene


def check_dead_command(scene: Scene) -> dict[str, Any]:
    """Tried retries + 1 times, dead, and a dead letter holding the envelope and the error."""
    assert scene.document(scene.ada_command, scene.ada)["attempts"] == POISON_RETRIES + 1
    found = scene.letter(f"command:{scene.ada_command}")
    assert found["attempts"] == POISON_RETRIES + 1
    assert found["failure"] == "poison" and "TypeError" in found["error"]
    assert found["envelope"]["id"] == scene.ada_command
    assert found["envelope"]["payload"] == {"amount": 7}
    return found


def check_dead_hook(scene: Scene) -> dict[str, Any]:
    """The command succeeded; notify's tries are in the trace; audit after it still ran."""
    bob_doc = scene.document(scene.bob_command, scene.bob)
    assert bob_doc["status"] == "succeeded"
    credited = [h for h in bob_doc["hooks"] if h["event"] == "wallet_credited"]
    notify = [(h["status"], h["attempts"]) for h in credited if h["module"] == "notifications"]
    assert notify == [("failed", 1), ("failed", 2), ("dead", 3)]
    assert [h["status"] for h in credited if h["module"] == "audit"] == ["succeeded"]
    found = scene.letter(DeadLetter.hook_letter_id(credited[0]["event_id"], HOOK))
    assert (found["hook"], found["attempts"]) == (HOOK, POISON_RETRIES + 1)
    assert "WRONGTYPE" in found["error"]
    return found


def fix_and_replay(scene: Scene, command_letter: str, hook_letter: str) -> float:
    """Repair the data, replay the command over HTTP and the hook with the CLI; seconds taken."""
    stack, client = scene.stack, scene.client
    stack.store["wallet_wallets"].update_one({"_id": scene.ada[0]}, {"$set": {"balance": 100}})
    stack.redis.delete(keys.read_model(NotificationsModule.name, INBOX_VIEW, scene.bob[0]))
    started = time.monotonic()
    replayed = client.post(f"/admin/dead-letters/{command_letter}/replay", headers=scene.admin)
    assert replayed.status_code == 200, replayed.text
    assert replayed.json()["status"] == "replaying"
    assert json.loads(hookline(stack, "dead-letters", "replay", hook_letter))["replays"] == 1
    for letter_id in (command_letter, hook_letter):
        wait_for(functools.partial(scene.resolved, letter_id), 60, letter_id)
    return time.monotonic() - started


def check_replays(scene: Scene, event_id: str) -> None:
    """Each effect once: one ledger entry, one message; the hook replay ran notify alone."""
    stack, (ada_id, ada) = scene.stack, scene.ada
    ada_doc = scene.document(scene.ada_command, scene.ada)
    assert (ada_doc["status"], ada_doc["replays"]) == ("succeeded", 1)
    assert ada_doc["attempts"] == POISON_RETRIES + 2
    assert scene.client.get("/wallet/balance", headers=ada).json()["balance"] == 107
    assert stack.store["wallet_ledger"].count_documents({"user_id": ada_id, "kind": "deposit"}) == 1
    text = {"user_id": scene.bob[0], "event": "wallet_credited", "text": {"$regex": "^5 credits"}}
    assert stack.store["notifications_messages"].count_documents(text) == 1
    runs = [
        h
        for h in scene.document(scene.bob_command, scene.bob)["hooks"]
        if h["event_id"] == event_id
    ]
    assert [h["module"] for h in runs].count("audit") == 1
    assert (runs[-1]["module"], runs[-1]["status"]) == ("notifications", "succeeded")


@pytest.mark.timeout(180)
def test_poison_command_and_hook_are_dead_lettered_and_replayed_after_the_fix(
    fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    """attempts = retries + 1, dead letters, bystanders unaffected, replays succeed."""
    stack = fault_stack(HOOKLINE_POISON_MAX_RETRIES=str(POISON_RETRIES))
    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        scene = poisoned(stack, client)
        command_letter = check_dead_command(scene)
        hook_letter = check_dead_hook(scene)
        ids = {command_letter["id"], hook_letter["id"]}
        listed = client.get("/admin/dead-letters", params={"status": "dead"}, headers=scene.admin)
        assert {item["id"] for item in listed.json()["items"]} == ids
        cli = hookline(stack, "dead-letters", "list", "--json").splitlines()
        assert {json.loads(line)["id"] for line in cli} == ids

        replay_s = fix_and_replay(scene, command_letter["id"], hook_letter["id"])
        check_replays(scene, hook_letter["envelope"]["id"])
        again = client.post(f"/admin/dead-letters/{hook_letter['id']}/replay", headers=scene.admin)
        assert again.status_code == 409

    figures(
        poison_retries=POISON_RETRIES,
        command_attempts=command_letter["attempts"],
        hook_attempts=hook_letter["attempts"],
        dead_letters=len(ids),
        bystander_deposits=len(scene.bystander.accepted),
        replays_resolved_s=replay_s,
    )


def test_dead_letters_need_an_admin_token(fault_stack: StackFactory) -> None:
    """No token: 401; a user's token: 403; an admin's: 200 with a page of letters."""
    stack = fault_stack()
    _, user = sign_up(stack.base_url)
    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        assert client.get("/admin/dead-letters").status_code == 401
        assert client.get("/admin/dead-letters", headers=user).status_code == 403
        assert client.post("/admin/dead-letters/x/replay", headers=user).status_code == 403
        listed = client.get("/admin/dead-letters", headers=stack.admin_headers())
        assert listed.status_code == 200 and listed.json() == {"items": [], "next": None}
        bad = client.get("/admin/dead-letters", params={"limit": 0}, headers=stack.admin_headers())
        assert bad.status_code == 422 and "limit" in bad.json()["detail"]
        missing = client.post("/admin/dead-letters/nope/replay", headers=stack.admin_headers())
        assert missing.status_code == 404
