"""Outbound webhooks end to end: real gateway, worker, Redis and MongoDB-protocol server,
and real receivers on loopback that verify every request with the ``standardwebhooks``
package from PyPI (an outside verifier, not Hookline's signer)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack
from tests.e2e.helpers import signed_up
from tests.faults.harness import wait_for
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e

WAIT = {"Prefer": "wait=10"}


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def subscribe(
    client: httpx.Client, auth: dict[str, str], url: str, events: list[str]
) -> dict[str, Any]:
    response = client.post(
        "/webhooks/endpoints", json={"url": url, "events": events}, headers={**auth, **WAIT}
    )
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


def deposit(client: httpx.Client, auth: dict[str, str], amount: int = 5) -> str:
    response = client.post("/wallet/deposit", json={"amount": amount}, headers={**auth, **WAIT})
    assert response.status_code == 200, response.text
    command_id: str = response.headers["Location"].rsplit("/", 1)[-1]
    return command_id


def deliveries(client: httpx.Client, auth: dict[str, str], endpoint_id: str) -> list[Any]:
    response = client.get(f"/webhooks/endpoints/{endpoint_id}/deliveries", headers=auth)
    assert response.status_code == 200, response.text
    items: list[Any] = response.json()["items"]
    return items


def test_a_deposit_reaches_its_owners_endpoint_signed_and_no_one_elses_events_do(
    stack: RunningStack, client: httpx.Client, receiver: WebhookReceiver
) -> None:
    """A's endpoint for wallet_credited gets A's deposit, signed (verified by the
    standardwebhooks package), and never B's; the deposit's trace lists the delivery."""
    user_a, auth_a = signed_up(client)
    _, auth_b = signed_up(client)
    endpoint = subscribe(client, auth_a, receiver.url, ["wallet_credited"])
    assert endpoint["secret"].startswith("whsec_")
    receiver.secrets = [endpoint["secret"]]
    deposit(client, auth_b, 7)
    command_id = deposit(client, auth_a, 5)

    (got,) = wait_for(lambda: receiver.requests, 15, "A's deposit at A's endpoint")
    assert got.verified_by == [endpoint["secret"]]
    assert got.body["type"] == "wallet_credited"
    assert got.body["data"]["user_id"] == user_a and got.body["data"]["amount"] == 5
    time.sleep(1.5)  # B's deposit, had it been sent, would be here by now
    assert [r.body["data"]["user_id"] for r in receiver.requests] == [user_a]

    (delivery,) = deliveries(client, auth_a, endpoint["endpoint_id"])
    assert delivery["delivery_id"] == got.webhook_id
    assert (delivery["state"], delivery["attempts"], delivery["last_status_code"]) == (
        "succeeded",
        1,
        200,
    )
    trace = client.get(f"/commands/{command_id}", headers=auth_a).json()["hooks"]
    tries = [run for run in trace if run["module"] == "webhooks" and run["handler"] == "deliver"]
    assert [(t["status"], t["target"]) for t in tries] == [
        ("succeeded", f"{endpoint['endpoint_id']}/{got.webhook_id}")
    ]


def test_a_receiver_failing_the_first_three_tries_sees_one_webhook_id_four_times(
    stack: RunningStack, client: httpx.Client, receiver: WebhookReceiver
) -> None:
    _, auth = signed_up(client)
    endpoint = subscribe(client, auth, receiver.url, ["wallet_credited"])
    receiver.secrets = [endpoint["secret"]]
    receiver.fail_first(3)
    deposit(client, auth)

    tries = wait_for(lambda: len(receiver.requests) >= 4 and receiver.requests, 20, "four tries")
    assert len({t.webhook_id for t in tries}) == 1
    assert [t.status for t in tries] == [500, 500, 500, 200]
    assert all(t.verified_by == [endpoint["secret"]] for t in tries)
    (delivery,) = wait_for(
        lambda: [
            d
            for d in deliveries(client, auth, endpoint["endpoint_id"])
            if d["state"] == "succeeded"
        ],
        5,
        "the delivery recorded as succeeded",
    )
    assert delivery["total_attempts"] == 4


def test_a_receiver_down_for_30_seconds_gets_every_delivery_once_it_is_up(
    stack: RunningStack, client: httpx.Client, receiver: WebhookReceiver
) -> None:
    _, auth = signed_up(client)
    endpoint = subscribe(client, auth, receiver.url, ["wallet_credited"])
    receiver.secrets = [endpoint["secret"]]
    receiver.down()
    for amount in range(1, 6):
        deposit(client, auth, amount)
    time.sleep(30)
    receiver.up()
    wait_for(
        lambda: len({r.webhook_id for r in receiver.requests if r.status == 200}) == 5,
        60,
        "all five deliveries after the receiver came back",
    )
    amounts = sorted(r.body["data"]["amount"] for r in receiver.requests if r.status == 200)
    assert amounts == [1, 2, 3, 4, 5]

    # The deliveries, newest first, two a page.
    path = f"/webhooks/endpoints/{endpoint['endpoint_id']}/deliveries"
    pages, cursor = [], None
    while True:
        params = {"limit": 2, **({} if cursor is None else {"before": cursor})}
        page = client.get(path, params=params, headers=auth).json()
        pages.append([d["delivery_id"] for d in page["items"]])
        cursor = page["next"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert len({d for p in pages for d in p}) == 5


def test_during_a_secret_rotation_both_signatures_verify(
    stack: RunningStack, client: httpx.Client, receiver: WebhookReceiver
) -> None:
    _, auth = signed_up(client)
    endpoint = subscribe(client, auth, receiver.url, ["wallet_credited"])
    old = endpoint["secret"]
    rotated = client.post(
        f"/webhooks/endpoints/{endpoint['endpoint_id']}/rotate-secret",
        json={},
        headers={**auth, **WAIT},
    )
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["secret"]
    assert new != old and new.startswith("whsec_")
    receiver.secrets = [old, new]
    deposit(client, auth)
    (got,) = wait_for(lambda: receiver.requests, 15, "the delivery during the rotation")
    assert got.verified_by == [old, new]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    info = client.get(f"/webhooks/endpoints/{endpoint['endpoint_id']}", headers=auth).json()
    assert info["secrets_active"] == 2

    # With no grace the old secret stops at once: the next delivery carries one signature.
    again = client.post(
        f"/webhooks/endpoints/{endpoint['endpoint_id']}/rotate-secret",
        json={"grace_s": 0},
        headers={**auth, **WAIT},
    )
    newest = again.json()["secret"]
    receiver.secrets = [new, newest]
    deposit(client, auth)
    wait_for(lambda: len(receiver.requests) == 2, 15, "the delivery after the rotation")
    assert receiver.requests[1].verified_by == [newest]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ("http://10.0.0.1/hooks", "10.0.0.1"),
        ("http://[::1]:{port}/hooks", "::1"),
        ("http://127.0.0.2:{port}/hooks", "127.0.0.2"),
        ("ftp://127.0.0.1/hooks", "http"),
    ],
)
def test_endpoints_that_reach_inside_are_refused(
    stack: RunningStack, client: httpx.Client, receiver: WebhookReceiver, url: str, why: str
) -> None:
    """Cloud metadata, a private address, loopback addresses other than the one excepted
    here (127.0.0.1), and a non-HTTP scheme: 422 naming url. (A name that resolves to
    loopback: tests/faults/test_webhook_endpoints.py, on a stack with no exception.)"""
    _, auth = signed_up(client)
    response = client.post(
        "/webhooks/endpoints",
        json={"url": url.format(port=receiver.port), "events": ["wallet_credited"]},
        headers={**auth, **WAIT},
    )
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == "url" and why in problem["detail"]


def test_subscriptions_are_checked_and_kept_to_their_owner(
    stack: RunningStack, client: httpx.Client, receiver: WebhookReceiver
) -> None:
    """Unknown events and events about nobody are refused to users; another user's
    endpoint is 404 to them; PATCH, DELETE and the listing work on one's own."""
    _, auth = signed_up(client)
    _, other = signed_up(client)
    for events, status in ((["no_such_event"], 422), (["api_key_created"], 403)):
        response = client.post(
            "/webhooks/endpoints",
            json={"url": receiver.url, "events": events},
            headers={**auth, **WAIT},
        )
        assert response.status_code == status, response.text
        assert response.json()["field"] == "events"
    endpoint = subscribe(client, auth, receiver.url, ["*"])
    one = f"/webhooks/endpoints/{endpoint['endpoint_id']}"
    assert client.get(one, headers=other).status_code == 404
    assert client.delete(one, headers={**other, **WAIT}).status_code == 404
    listed = client.get("/webhooks/endpoints", headers=auth).json()["items"]
    assert [e["endpoint_id"] for e in listed] == [endpoint["endpoint_id"]]
    assert "secret" not in listed[0]
    patched = client.patch(
        one, json={"events": ["wallet_debited"], "description": "debits"}, headers={**auth, **WAIT}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["events"] == ["wallet_debited"]
    assert client.delete(one, headers={**auth, **WAIT}).status_code == 200
    assert client.get(one, headers=auth).status_code == 404
    assert client.get("/webhooks/endpoints", headers=auth).json()["items"] == []


def test_a_slow_endpoint_does_not_delay_another(stack: RunningStack, client: httpx.Client) -> None:
    """A's endpoint takes 4 s to answer each try; B's deliveries, made while A's six are in
    hand, arrive within seconds all the same (each endpoint holds at most its own slots)."""
    _, auth_a = signed_up(client)
    _, auth_b = signed_up(client)
    with WebhookReceiver() as slow, WebhookReceiver() as fast:
        slow.delay_s = 4.0
        slow.secrets = [subscribe(client, auth_a, slow.url, ["wallet_credited"])["secret"]]
        fast.secrets = [subscribe(client, auth_b, fast.url, ["wallet_credited"])["secret"]]
        for _ in range(6):
            deposit(client, auth_a)
        started = time.monotonic()
        for _ in range(3):
            deposit(client, auth_b)
        wait_for(lambda: len(fast.requests) == 3, 10, "B's three deliveries")
        fast_s = time.monotonic() - started
        answered_slow = len([r for r in slow.requests if r.status == 200])
        assert fast_s < 4.0, f"B's deliveries took {fast_s:.1f} s"
        assert answered_slow < 6  # A's were still being tried
        wait_for(lambda: len(slow.requests) == 6, 30, "A's six deliveries in the end")
