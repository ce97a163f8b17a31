"""Ownership (OWASP API1): a user sees their own commands, wallet, transfers and inbox only."""

from __future__ import annotations

import httpx
import pytest
from pymongo.database import Database

from tests.e2e.helpers import new_user, register, signed_up
from tests.security.conftest import Doc, assert_refused, ledger_count

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=10"}


def test_another_users_command_is_404(client: httpx.Client, admin: dict[str, str]) -> None:
    """A's deposit command is 404 for B and for anonymous callers; A and an admin see it."""
    _, alice = signed_up(client)
    _, bob = signed_up(client)
    status_url = client.post(
        "/wallet/deposit", json={"amount": 3}, headers={**alice, **WAIT}
    ).headers["Location"]
    for outsider in (bob, {}):
        response = client.get(status_url, headers=outsider)
        assert response.status_code == 404
        assert "result" not in response.json()
    assert client.get(status_url, headers=alice).json()["result"]["body"] == {"balance": 103}
    assert client.get(status_url, headers=admin).status_code == 200


def test_another_users_wallet_cannot_be_read_or_credited(
    client: httpx.Client, store: Database[Doc]
) -> None:
    """B's balance is B's; naming A in the query or the body is 422 and A's wallet is unchanged."""
    alice_id, _ = signed_up(client)
    bob_id, bob = signed_up(client)
    own = client.get("/wallet/balance", headers=bob)
    assert (own.status_code, own.json()["user_id"]) == (200, bob_id)
    assert_refused(client.get("/wallet/balance", params={"user_id": alice_id}, headers=bob), 422)
    body = {"amount": 5, "user_id": alice_id}
    assert_refused(client.post("/wallet/deposit", json=body, headers={**bob, **WAIT}), 422)
    assert ledger_count(store, alice_id) == ledger_count(store, bob_id) == 1


def test_another_users_transfers_are_not_listed(client: httpx.Client) -> None:
    """A transfer between A and C is not in B's history, and B cannot ask for A's."""
    alice_id, alice = signed_up(client)
    _, bob = signed_up(client)
    carol = new_user()
    register(client, carol)
    sent = client.post(
        "/transactions/transfer",
        json={"to_username": carol["username"], "amount": 7},
        headers={**alice, **WAIT},
    )
    assert sent.status_code == 200
    assert client.get("/transactions", headers=bob).json()["items"] == []
    assert_refused(client.get("/transactions", params={"user_id": alice_id}, headers=bob), 422)
    assert client.get(sent.headers["Location"], headers=bob).status_code == 404


def test_another_users_notifications_are_not_listed(client: httpx.Client) -> None:
    """B's inbox holds only B's messages, and B cannot ask for A's."""
    alice_id, alice = signed_up(client)
    bob_id, bob = signed_up(client)
    client.post("/wallet/deposit", json={"amount": 9}, headers={**alice, **WAIT})
    inbox = client.get("/notifications", headers=bob).json()["items"]
    assert inbox and {m["user_id"] for m in inbox} == {bob_id}
    assert not any("9 credits added" in m["text"] for m in inbox)
    assert_refused(client.get("/notifications", params={"user_id": alice_id}, headers=bob), 422)
