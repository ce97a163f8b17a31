"""Idempotency-Key: one effect per (caller, key); another body or an oversized key is refused."""

from __future__ import annotations

import uuid

import httpx
import pytest
from pymongo.database import Database

from tests.e2e.helpers import signed_up
from tests.security.conftest import Doc, assert_refused, ledger_count

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=10"}


def deposit(
    client: httpx.Client, auth: dict[str, str], amount: int, key: str, wait: bool = True
) -> httpx.Response:
    headers = {**auth, "Idempotency-Key": key, **(WAIT if wait else {})}
    return client.post("/wallet/deposit", json={"amount": amount}, headers=headers)


def test_the_same_key_and_body_give_the_same_command_once(
    client: httpx.Client, store: Database[Doc]
) -> None:
    """Repeating a deposit with its key answers the first outcome; the ledger has one deposit."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    first = deposit(client, auth, 25, key)
    again = deposit(client, auth, 25, key)
    later = deposit(client, auth, 25, key, wait=False)
    assert (first.status_code, first.json()) == (200, {"balance": 125})
    assert (again.status_code, again.json()) == (200, {"balance": 125})
    assert again.headers["Idempotent-Replayed"] == "true"
    assert later.status_code == 202
    assert first.headers["Location"] == again.headers["Location"] == later.headers["Location"]
    assert ledger_count(store, user_id) == 2


def test_the_same_key_with_another_body_is_422(client: httpx.Client, store: Database[Doc]) -> None:
    """A key reused with another amount is 422 naming the header; only the first deposit applies."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    assert deposit(client, auth, 10, key).status_code == 200
    response = deposit(client, auth, 11, key)
    assert_refused(response, 422)
    assert response.json()["field"] == "Idempotency-Key"
    assert ledger_count(store, user_id) == 2


def test_another_user_with_the_same_key_gets_a_command_of_their_own(
    client: httpx.Client, store: Database[Doc]
) -> None:
    """Keys are per caller: B reusing A's key and body makes B's own deposit, not A's again."""
    alice_id, alice = signed_up(client)
    bob_id, bob = signed_up(client)
    key = uuid.uuid4().hex
    first = deposit(client, alice, 5, key)
    second = deposit(client, bob, 5, key)
    assert first.json() == second.json() == {"balance": 105}
    assert first.headers["Location"] != second.headers["Location"]
    assert "Idempotent-Replayed" not in second.headers
    assert ledger_count(store, alice_id) == ledger_count(store, bob_id) == 2


def test_a_key_over_255_characters_is_400(client: httpx.Client, store: Database[Doc]) -> None:
    """An Idempotency-Key of 256 characters is 400 and nothing is deposited; 255 is fine."""
    user_id, auth = signed_up(client)
    assert_refused(deposit(client, auth, 1, "k" * 256), 400)
    assert ledger_count(store, user_id) == 1
    assert deposit(client, auth, 1, "k" * 255).status_code == 200
