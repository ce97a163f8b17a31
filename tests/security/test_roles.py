"""The operator role: reads the platform (commands, hooks, dead letters), changes nothing."""

from __future__ import annotations

import httpx
import pytest
from pymongo.database import Database

from tests.conftest import RunningStack
from tests.e2e.helpers import bearer, login, poll, signed_up
from tests.security.conftest import Doc, assert_refused, hookline_admin, user_with_role

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=10"}


@pytest.fixture(scope="module")
def operator_user(stack: RunningStack) -> dict[str, str]:
    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        return user_with_role(stack, client, "operator")


@pytest.fixture
def operator(client: httpx.Client, operator_user: dict[str, str]) -> dict[str, str]:
    return bearer(login(client, operator_user))


def test_an_operator_reads_hooks_dead_letters_metrics_and_health(
    client: httpx.Client, operator: dict[str, str]
) -> None:
    """/hooks, the dead-letter list, /metrics and module status answer an operator."""
    assert "operator" in client.get("/userauth/me", headers=operator).json()["roles"]
    assert client.get("/hooks", headers=operator).status_code == 200
    assert client.get("/metrics", headers=operator).status_code == 200
    assert client.get("/modules/status", headers=operator).status_code == 200
    listed = client.get("/admin/dead-letters", headers={**operator, **WAIT})
    assert listed.status_code == 200, listed.text
    assert "items" in listed.json()


def test_an_operator_may_not_replay_a_dead_letter_or_mint_keys(
    client: httpx.Client, operator: dict[str, str], store: Database[Doc]
) -> None:
    """Replaying needs dead_letters:manage, minting api_keys:manage: 403 each, nothing stored."""
    keys_before = store["api_keys_keys"].count_documents({})
    replay = client.post("/admin/dead-letters/command:nothing/replay", headers=operator)
    assert_refused(replay, 403)
    assert replay.json()["permission"] == "dead_letters:manage"
    body = {"name": "ops", "scopes": ["hooks:read"]}
    minted = client.post("/admin/api-keys", json=body, headers={**operator, **WAIT})
    assert_refused(minted, 403)
    assert minted.json()["permission"] == "api_keys:manage"
    assert store["api_keys_keys"].count_documents({}) == keys_before


def test_an_operator_reads_any_command_but_never_its_secrets(
    client: httpx.Client, operator: dict[str, str], admin: dict[str, str]
) -> None:
    """An admin's key minting, read by an operator: redacted, and the key is left for the
    admin, whose first read still takes it (commands:read_any is not the submitter)."""
    accepted = client.post(
        "/admin/api-keys", json={"name": "ops-read", "scopes": ["wallet:read"]}, headers=admin
    )
    assert accepted.status_code == 202
    url = accepted.headers["Location"]
    seen = poll(client, url, headers=operator)
    assert seen["status"] == "succeeded" and seen["result_redacted"] is True
    assert "api_key" not in seen["result"]["body"]
    again = client.get(url, headers=operator).json()
    assert again["result_redacted"] is True
    mine = client.get(url, headers=admin).json()
    assert mine["result"]["body"]["api_key"].startswith("hk_")


def test_an_operator_lists_anyones_commands_but_cancels_none_an_admin_may(
    client: httpx.Client, operator: dict[str, str], admin: dict[str, str]
) -> None:
    """A user's deposit scheduled an hour ahead: the operator finds it (``owner``) and may
    read it, but its cancel is 403 and it stays scheduled; an admin's cancel works."""
    user_id, auth = signed_up(client)
    scheduled = client.post(
        "/wallet/deposit", json={"amount": 1}, headers={**auth, "Command-Not-Before": "3600"}
    )
    assert scheduled.status_code == 202, scheduled.text
    command_id = scheduled.json()["command_id"]
    listed = client.get("/commands", params={"owner": user_id}, headers=operator).json()
    assert [item["command_id"] for item in listed["items"]] == [command_id]
    refused = client.post(f"/commands/{command_id}/cancel", headers=operator)
    assert_refused(refused, 403)
    assert client.get(f"/commands/{command_id}", headers=auth).json()["status"] == "scheduled"
    cancelled = client.post(f"/commands/{command_id}/cancel", headers=admin)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


def test_revoking_the_operator_role_ends_it(stack: RunningStack, client: httpx.Client) -> None:
    """`hookline admin revoke --role operator` ends the sessions; a new login is a user only."""
    user = user_with_role(stack, client, "operator")
    auth = bearer(login(client, user))
    assert client.get("/hooks", headers=auth).status_code == 200
    revoked = hookline_admin(stack, "revoke", user["email"], "--role", "operator")
    assert revoked.returncode == 0, revoked.stderr
    assert_refused(client.get("/hooks", headers=auth), 401)
    assert_refused(client.get("/hooks", headers=bearer(login(client, user))), 403)
