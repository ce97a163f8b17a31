"""Finding 9: every query with an API key started a new worker command.

The attack: a caller with a cheap key (notifications:read) sends GET
/notifications in a loop; the gateway looked for the key's read model under one
key, the worker wrote it under another, so every read was a miss that put a
query command on the bus. Both ends now use ``core.read_models.caller_key``:
the first read builds the view, the next ones are served from Redis.
"""

from __future__ import annotations

import httpx
import pytest
import redis

from core import keys
from modules.notifications import INBOX_VIEW, NotificationsModule
from tests.security.conftest import assert_refused, commands_of, key_header, minted

pytestmark = pytest.mark.e2e


def test_a_keys_second_read_is_served_from_its_read_model(
    client: httpx.Client, admin: dict[str, str], redis_client: redis.Redis
) -> None:
    """Two reads of /notifications with a key: the first records one command, the second
    none, and both answer the same page."""
    created = minted(client, admin, "notifications:read")
    principal = f"key:{created['key_id']}"
    key = {**key_header(created), "Prefer": "wait=10"}
    first = client.get("/notifications", headers=key)
    assert first.status_code == 200, first.text
    assert commands_of(redis_client, principal) == 1
    inbox = keys.read_model(NotificationsModule.name, INBOX_VIEW, principal)
    assert redis_client.exists(inbox + ":ready")
    second = client.get("/notifications", headers=key)
    assert second.status_code == 200 and "Location" not in second.headers
    assert second.json() == first.json() == {"items": [], "next": None}
    assert commands_of(redis_client, principal) == 1


def test_a_key_on_a_users_own_account_is_403_and_starts_nothing(
    client: httpx.Client, admin: dict[str, str], redis_client: redis.Redis
) -> None:
    """A key has no wallet, profile or transfers: those routes (``users_only``) refuse it at
    the gateway, instead of a command per request that the worker answers 404."""
    created = minted(client, admin, "wallet:read", "wallet:deposit", "transactions:read")
    key = {**key_header(created), "Prefer": "wait=10"}
    for _ in range(3):
        for refused in (
            client.get("/wallet/balance", headers=key),
            client.get("/transactions", headers=key),
            client.post("/wallet/deposit", json={"amount": 1}, headers=key),
        ):
            assert_refused(refused, 403)
            assert "API key" in refused.json()["detail"]
    assert commands_of(redis_client, f"key:{created['key_id']}") == 0
