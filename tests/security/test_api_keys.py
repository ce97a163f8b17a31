"""API keys: minted by admins, shown once, stored hashed, scoped, revocable."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from tests.e2e.helpers import signed_up
from tests.security.conftest import Doc, assert_refused

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=10"}


def mint(client: httpx.Client, admin: dict[str, str], *scopes: str) -> dict[str, Any]:
    response = client.post(
        "/admin/api-keys",
        json={"name": "billing service", "scopes": list(scopes)},
        headers={**admin, **WAIT},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def test_a_key_is_shown_once_and_stored_only_as_a_hash(
    client: httpx.Client, admin: dict[str, str], store: Database[Doc]
) -> None:
    """The create result holds the key; MongoDB and the listing hold its hash or nothing of it."""
    created = mint(client, admin, "wallet:read")
    plain = created["api_key"]
    stored = store["api_keys_keys"].find_one({"_id": created["key_id"]})
    assert stored is not None and plain not in str(stored)
    assert stored["key_hash"] == hashlib.sha256(plain.encode()).hexdigest()
    listing = client.get("/admin/api-keys", headers=admin)
    assert listing.status_code == 200 and plain not in listing.text
    assert any(item["key_id"] == created["key_id"] for item in listing.json()["items"])


def test_a_key_authenticates_within_its_scopes_only(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    """A key with notifications:read passes that permission check and is 403 elsewhere."""
    key = {"X-API-Key": mint(client, admin, "notifications:read")["api_key"]}
    refused = client.post("/wallet/deposit", json={"amount": 1}, headers={**key, **WAIT})
    assert_refused(refused, 403)
    assert refused.json()["permission"] == "wallet:deposit"
    assert_refused(client.get("/admin/api-keys", headers=key), 403)
    # Permitted: the call goes through (a key has no inbox of its own, so it is empty).
    assert client.get("/notifications", headers=key).status_code == 200


def test_a_revoked_or_forged_key_is_401(client: httpx.Client, admin: dict[str, str]) -> None:
    """After revocation the key is 401 at once; a key with a changed secret is 401 too."""
    created = mint(client, admin, "wallet:read")
    key = created["api_key"]
    forged = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert_refused(client.get("/commands/x", headers={"X-API-Key": forged}), 401)
    revoked = client.delete(f"/admin/api-keys/{created['key_id']}", headers={**admin, **WAIT})
    assert revoked.status_code == 200
    assert_refused(client.get("/commands/x", headers={"X-API-Key": key}), 401)


def test_users_cannot_manage_keys(client: httpx.Client, store: Database[Doc]) -> None:
    """A plain user creating, listing or revoking keys is 403 and no key is stored."""
    _, user = signed_up(client)
    before = store["api_keys_keys"].count_documents({})
    body = {"name": "mine", "scopes": ["wallet:read"]}
    assert_refused(client.post("/admin/api-keys", json=body, headers={**user, **WAIT}), 403)
    assert_refused(client.get("/admin/api-keys", headers=user), 403)
    assert_refused(client.delete("/admin/api-keys/" + "0" * 32, headers=user), 403)
    assert store["api_keys_keys"].count_documents({}) == before


def test_a_key_cannot_mint_a_key_with_more_than_it_holds(
    client: httpx.Client, admin: dict[str, str], store: Database[Doc]
) -> None:
    """A key allowed to manage keys cannot grant a scope it lacks: 403, nothing stored."""
    manager = {"X-API-Key": mint(client, admin, "api_keys:manage")["api_key"]}
    before = store["api_keys_keys"].count_documents({})
    body = {"name": "escalate", "scopes": ["commands:read_any"]}
    response = client.post("/admin/api-keys", json=body, headers={**manager, **WAIT})
    assert response.status_code == 403
    assert store["api_keys_keys"].count_documents({}) == before


def test_unknown_scopes_are_422(client: httpx.Client, admin: dict[str, str]) -> None:
    """A scope no role knows is refused with 422 naming scopes."""
    body = {"name": "typo", "scopes": ["wallet:steal"]}
    response = client.post("/admin/api-keys", json=body, headers={**admin, **WAIT})
    assert response.status_code == 422
    assert response.json()["field"] == "scopes"
