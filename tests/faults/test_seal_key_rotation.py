"""Rotating the bus seal key loses nothing: commands sealed with the old key and still
queued run after the new key takes over, and their secret results still hand over.

The rotation is the documented one: every process gets ``NEW,OLD`` (the first seals,
both open), then, once nothing sealed with OLD can be queued, ``NEW`` alone.
"""

from __future__ import annotations

import json

import httpx
import pytest

from core import keys
from core.sealing import KeyRing, new_key_entry
from tests.e2e.helpers import bearer, claim, new_user, poll
from tests.faults.conftest import StackFactory
from tests.faults.harness import FaultStack, sign_up, wait_for
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.faults
QUEUED = 8


def test_commands_sealed_with_the_old_key_run_after_rotation(fault_stack: StackFactory) -> None:
    stack = fault_stack()
    key_file = stack.root / "secrets" / "bus_seal_key"
    old_id = KeyRing.parse(key_file.read_text()).sealing_key.key_id
    _, auth = sign_up(stack.base_url)
    stack.stop_worker()
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        users = [new_user() for _ in range(QUEUED)]
        queued = [client.post("/public/register", json=user) for user in users]
        deposits = [client.post("/wallet/deposit", json={"amount": 1}, headers=auth)]
        assert all(r.status_code == 202 for r in [*queued, *deposits])
        assert {sealed_with(stack, r) for r in queued} == {old_id}
        key_file.write_text(f"{new_entry()},{key_file.read_text().strip()}")
        stack.restart_gateway()
        stack.start_worker()
        for response in queued:
            document = poll(client, response.headers["Location"], 60, headers=claim(response))
            assert document["status"] == "succeeded", document
        assert poll(client, deposits[0].headers["Location"], 60, auth)["status"] == "succeeded"
        for user in users:  # each password arrived intact: it logs in
            tokens = login_tokens(stack, client, user)
            assert client.get("/userauth/me", headers=bearer(tokens)).status_code == 200
    assert stack.worker_log_count("SealError") == 0


def new_entry() -> str:
    return new_key_entry("rotated")


def sealed_with(stack: FaultStack, accepted: httpx.Response) -> str:
    """The key id in the queued message's envelope (the message ledger notes it as sent)."""
    command_id = accepted.headers["Location"].rsplit("/", 1)[1]
    note = stack.redis.get(keys.message(command_id))
    assert isinstance(note, str), "no ledger note for a queued command"
    key_id: str = json.loads(note)["args"][0]["sealed"]["key_id"]
    return key_id


def login_tokens(stack: FaultStack, client: httpx.Client, user: dict[str, str]) -> dict[str, str]:
    """A login without waiting, its tokens read once with the claim (sealed with the new key)."""
    accepted = client.post("/public/login", json={k: user[k] for k in ("email", "password")})

    def tokens() -> dict[str, str] | None:
        document = client.get(accepted.headers["Location"], headers=claim(accepted)).json()
        if document["status"] != "succeeded":
            assert document["status"] in ("accepted", "running"), document
            return None
        body: dict[str, str] = document["result"]["body"]
        return body

    found: dict[str, str] = wait_for(tokens, 30, "the login's tokens", stack.log_tails)
    return found


def test_a_key_retired_too_soon_dead_letters_and_a_replay_heals(
    fault_stack: StackFactory,
) -> None:
    """A command sealed with a key the worker no longer lists dies naming that key; listed
    again, a replay runs it. A gateway without the workers' new key answers 503 for a sealed
    result and leaves it for a gateway that has the key."""
    stack = fault_stack(HOOKLINE_POISON_MAX_RETRIES="1")
    key_file = stack.root / "secrets" / "bus_seal_key"
    old = key_file.read_text().strip()
    old_id = KeyRing.parse(old).sealing_key.key_id
    admin = stack.admin_headers()
    stack.stop_worker()
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        user = new_user()
        queued = client.post("/public/register", json=user)
        assert queued.status_code == 202
        new = new_entry()
        key_file.write_text(new)  # OLD dropped while a message sealed with it is queued
        stack.start_worker()
        document = poll(client, queued.headers["Location"], 60, headers=claim(queued))
        assert document["status"] == "dead", document
        letter_id = "command:" + queued.headers["Location"].rsplit("/", 1)[1]
        letter = client.get(f"/admin/dead-letters/{letter_id}", headers=admin).json()
        assert f"no key {old_id!r}" in letter["error"]
        key_file.write_text(f"{new},{old}")
        stack.stop_worker()
        stack.start_worker()
        assert client.post(f"/admin/dead-letters/{letter_id}/replay", headers=admin).is_success
        document = poll(client, queued.headers["Location"], 60, headers=claim(queued))
        assert document["status"] == "succeeded", document
        # The gateway still lists OLD alone; the worker seals the login's tokens with NEW.
        accepted = client.post("/public/login", json={k: user[k] for k in ("email", "password")})
        refused = wait_for(lambda: _refused(client, accepted), 30, "a 503", stack.log_tails)
        assert refused.headers["Retry-After"] and "cannot open" in refused.json()["detail"]
        stack.restart_gateway()
        document = client.get(accepted.headers["Location"], headers=claim(accepted)).json()
        assert document["result"]["body"]["access_token"], document


def _refused(client: httpx.Client, accepted: httpx.Response) -> httpx.Response | None:
    response = client.get(accepted.headers["Location"], headers=claim(accepted))
    return response if response.status_code == 503 else None


def test_webhook_secrets_are_sealed_again_and_keep_signing_through_a_rotation(
    fault_stack: StackFactory,
) -> None:
    """An endpoint's secret rests sealed with the bus seal key; each worker start seals it
    again with the newest key, so after the rotation (OLD dropped) it still signs."""
    stack = fault_stack(HOOKLINE_WEBHOOKS_ALLOWED_HOSTS="127.0.0.1")
    key_file = stack.root / "secrets" / "bus_seal_key"
    old_id = KeyRing.parse(key_file.read_text()).sealing_key.key_id
    _, auth = sign_up(stack.base_url)
    wait = {**auth, "Prefer": "wait=15"}
    with httpx.Client(base_url=stack.base_url, timeout=30) as client, WebhookReceiver() as receiver:
        endpoint = client.post(
            "/webhooks/endpoints",
            json={"url": receiver.url, "events": ["wallet_credited"]},
            headers=wait,
        ).json()
        receiver.secrets = [endpoint["secret"]]
        assert stored_secret_key(stack, endpoint["endpoint_id"]) == old_id

        key_file.write_text(f"{new_entry()},{key_file.read_text().strip()}")
        restart(stack)
        new_id = KeyRing.parse(key_file.read_text()).sealing_key.key_id
        assert stored_secret_key(stack, endpoint["endpoint_id"]) == new_id
        key_file.write_text(key_file.read_text().split(",")[0])
        restart(stack)

        assert client.post("/wallet/deposit", json={"amount": 2}, headers=wait).status_code == 200
        delivered = wait_for(lambda: receiver.requests, 15, "the delivery", stack.log_tails)
        assert delivered[0].verified_by == [endpoint["secret"]]
    assert stack.worker_log_count("not opened") == 0


def restart(stack: FaultStack) -> None:
    stack.stop_worker()
    stack.start_worker()
    stack.restart_gateway()
    stack.await_health(lambda status: status == 200, "the restarted stack")


def stored_secret_key(stack: FaultStack, endpoint_id: str) -> str:
    document = stack.store["webhooks_endpoints"].find_one({"_id": endpoint_id})
    assert document is not None
    assert "whsec_" not in json.dumps(document, default=str)  # sealed, never plain
    key_id: str = document["secret"]["key_id"]
    return key_id
