"""An admin's webhook endpoint hears anyone's events only while its owner is an admin.

``webhooks:manage_any`` lets an admin subscribe to every user's events. The scope is
checked again at each event, against the roles MongoDB has then: once ``hookline
admin revoke`` takes the role away, the endpoint hears only events about its owner.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from events.permissions import ADMIN_ROLE
from hookline.role_commands import AdminAction, change_admin_role
from tests.conftest import RunningStack
from tests.e2e.helpers import bearer, login, signed_up
from tests.faults.harness import wait_for
from tests.security.conftest import stores_of, user_with_role
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

WAIT = {"Prefer": "wait=10"}
AMOUNT = 3  # the welcome credit of a new user may arrive too: it is another amount


@pytest.fixture
def receivers() -> Iterator[tuple[WebhookReceiver, WebhookReceiver]]:
    with WebhookReceiver() as admins, WebhookReceiver() as witness:
        yield admins, witness


def subscribe(client: httpx.Client, auth: dict[str, str], receiver: WebhookReceiver) -> None:
    """An endpoint for wallet_credited at ``receiver``, which verifies with its secret."""
    body = {"url": receiver.url, "events": ["wallet_credited"]}
    response = client.post("/webhooks/endpoints", json=body, headers={**auth, **WAIT})
    assert response.status_code == 201, response.text
    receiver.secrets = [response.json()["secret"]]


def deposit(client: httpx.Client, auth: dict[str, str]) -> None:
    response = client.post("/wallet/deposit", json={"amount": AMOUNT}, headers={**auth, **WAIT})
    assert response.status_code == 200, response.text


def credited(receiver: WebhookReceiver) -> list[str]:
    """Whose wallets the test's deposits ``receiver`` was told of were, in order."""
    data = [r.body["data"] for r in receiver.requests if r.verified]
    return [d["user_id"] for d in data if d["amount"] == AMOUNT]


def test_a_demoted_admins_endpoint_hears_only_events_about_them(
    stack: RunningStack,
    client: httpx.Client,
    receivers: tuple[WebhookReceiver, WebhookReceiver],
) -> None:
    admins, witness = receivers
    admin_user = user_with_role(stack, client, ADMIN_ROLE)
    admin = bearer(login(client, admin_user))
    admin_id = client.get("/userauth/me", headers=admin).json()["user_id"]
    user_id, user = signed_up(client)
    subscribe(client, admin, admins)
    # The user's own endpoint: once it has an event, the fan-out of that event is done.
    subscribe(client, user, witness)

    deposit(client, user)
    wait_for(lambda: credited(admins) == [user_id], 15, "the user's deposit at the admin's")

    change_admin_role(stores_of(stack), admin_user["email"], AdminAction.REVOKE)
    deposit(client, user)
    wait_for(lambda: credited(witness) == [user_id, user_id], 15, "both deposits at the user's")
    demoted = bearer(login(client, admin_user))  # revoking ended the admin's sessions
    deposit(client, demoted)
    wait_for(lambda: len(credited(admins)) == 2, 15, "the demoted admin's own deposit")
    time.sleep(1.0)  # anything else sent to the admin's endpoint would be here by now
    assert credited(admins) == [user_id, admin_id]
