"""Finding 4: an API key never holds a permission its user does not hold at the moment of use.

The attack: an admin mints a key that manages keys; the admin is later revoked;
the key went on minting keys and acting as an admin. Now the gateway bounds a
key's scopes by its user's current roles, which ``hookline admin`` publishes
the moment it changes them; a key of a user nobody knows any more is 401; and a
key minted with a key is revoked with it.
"""

from __future__ import annotations

import httpx
import pytest
import redis
from pymongo.database import Database

from core.celery_app import make_celery
from core.settings import Settings
from hookline.role_commands import AdminAction, change_admin_role
from tests.conftest import RunningStack
from tests.e2e.helpers import bearer, login
from tests.security.conftest import (
    Doc,
    assert_refused,
    commands_of,
    hookline_admin,
    key_header,
    mint,
    minted,
    stores_of,
    user_with_role,
)
from workers.bootstrap import Blueprint
from workers.runtime import Runtime
from workers.services import WorkerServices

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=10"}


def test_a_revoked_admins_key_stops_minting_keys_and_acting_as_admin(
    stack: RunningStack,
    client: httpx.Client,
    store: Database[Doc],
    redis_client: redis.Redis,
) -> None:
    """Before the revoke the key mints keys and lists dead letters; after it, 403 on both
    (its user no longer holds them), no key stored and no command recorded. What the user
    still holds (notifications:read) the key still does."""
    user = user_with_role(stack, client, "admin")
    scopes = ("api_keys:manage", "dead_letters:read", "notifications:read")
    key = minted(client, bearer(login(client, user)), *scopes)
    reader = minted(client, key_header(key), "notifications:read")
    assert client.get("/admin/dead-letters", headers={**key_header(key), **WAIT}).is_success
    revoked = hookline_admin(stack, "revoke", user["email"])
    assert revoked.returncode == 0, revoked.stderr
    stored = store["api_keys_keys"].count_documents({})
    principal = f"key:{key['key_id']}"
    recorded = commands_of(redis_client, principal)
    refused = mint(client, key_header(key), "notifications:read")
    assert_refused(refused, 403)
    assert refused.json()["permission"] == "api_keys:manage"
    listing = client.get("/admin/dead-letters", headers=key_header(key))
    assert_refused(listing, 403)
    assert listing.json()["permission"] == "dead_letters:read"
    assert store["api_keys_keys"].count_documents({}) == stored
    assert commands_of(redis_client, principal) == recorded
    assert client.get("/notifications", headers=key_header(reader)).status_code == 200


def test_a_regranted_admins_key_is_bounded_by_the_roles_of_now(
    stack: RunningStack, client: httpx.Client
) -> None:
    """The bound is the user's roles at each request: granted again, the key manages again."""
    user = user_with_role(stack, client, "admin")
    key = key_header(minted(client, bearer(login(client, user)), "api_keys:manage"))
    change_admin_role(stores_of(stack), user["email"], AdminAction.REVOKE)
    assert_refused(client.get("/admin/api-keys", headers=key), 403)
    change_admin_role(stores_of(stack), user["email"], AdminAction.GRANT)
    assert client.get("/admin/api-keys", headers=key).status_code == 200


def test_a_key_minted_with_a_key_is_revoked_with_it(
    client: httpx.Client, admin: dict[str, str], store: Database[Doc]
) -> None:
    """Revoking a key revokes the keys minted with it: no key outlives the key it came from."""
    parent = minted(client, admin, "api_keys:manage", "notifications:read")
    child = minted(client, key_header(parent), "notifications:read")
    assert client.get("/notifications", headers=key_header(child)).status_code == 200
    revoked = client.delete(f"/admin/api-keys/{parent['key_id']}", headers={**admin, **WAIT})
    assert revoked.status_code == 200, revoked.text
    assert_refused(client.get("/notifications", headers=key_header(child)), 401)
    stored = store["api_keys_keys"].find_one({"_id": child["key_id"]})
    assert stored is not None and stored["revoked_at"] is not None


def test_a_key_whose_user_is_gone_is_401(
    stack: RunningStack,
    client: httpx.Client,
    store: Database[Doc],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker starting after the key's user left MongoDB withdraws the user's roles from
    Redis: the key is 401 from then on, and cannot mint."""
    user = user_with_role(stack, client, "admin")
    key = key_header(minted(client, bearer(login(client, user)), "api_keys:manage"))
    store["user_management_users"].delete_one({"email": user["email"]})
    start_a_worker(stack, monkeypatch)
    assert_refused(client.get("/admin/api-keys", headers=key), 401)
    assert_refused(mint(client, key, "notifications:read"), 401)


def start_a_worker(stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a worker process does when it starts, every module's ``on_start`` included,
    in this process and without consuming anything."""
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    blueprint = Blueprint.from_settings(settings)
    celery = make_celery(settings, blueprint.queues)
    services = WorkerServices.build(settings, celery, blueprint.roles)
    try:
        Runtime(
            {name: blueprint.classes[name] for name in blueprint.order},
            blueprint.catalogue,
            services,
        )
    finally:
        services.close()
        celery.close()
