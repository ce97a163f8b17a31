"""Outbound webhooks on a private stack whose settings the test changes: endpoints on
loopback refused without the exception (``http://127.0.0.1`` and a name that resolves to
loopback), then one that fails until it is disabled (and
``webhook_endpoint_disabled`` is delivered), enabled again and recovered.

The worker restarts between the two parts with other ``HOOKLINE_WEBHOOKS_*`` settings:
the module reads them when it starts.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.faults.conftest import StackFactory
from tests.faults.harness import FaultStack, sign_up, wait_for
from tests.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

WAIT = {"Prefer": "wait=15"}
# Three quick tries per delivery; an endpoint failing for 2 s is disabled.
FAILING = {
    "HOOKLINE_WEBHOOKS_ALLOWED_HOSTS": "127.0.0.1",
    "HOOKLINE_WEBHOOKS_RETRY_SCHEDULE_S": "0,0.3,0.3",
    "HOOKLINE_WEBHOOKS_DISABLE_AFTER_S": "2",
    "HOOKLINE_WEBHOOKS_TICK_S": "0.2",
    "HOOKLINE_WEBHOOKS_TIMEOUT_S": "3",
}


def restart_worker(stack: FaultStack, **settings: str) -> None:
    stack.env.update(settings)
    stack.stop_worker()
    stack.start_worker()
    stack.await_health(lambda status: status == 200, "the new worker")


def deposit(client: httpx.Client, auth: dict[str, str]) -> None:
    response = client.post("/wallet/deposit", json={"amount": 3}, headers={**auth, **WAIT})
    assert response.status_code == 200, response.text


def endpoint_of(client: httpx.Client, auth: dict[str, str], endpoint_id: str) -> dict[str, object]:
    found: dict[str, object] = client.get(f"/webhooks/endpoints/{endpoint_id}", headers=auth).json()
    return found


def test_an_endpoint_failing_too_long_is_disabled_announced_and_recovered(
    fault_stack: StackFactory,
) -> None:
    stack = fault_stack()  # no HOOKLINE_WEBHOOKS_ALLOWED_HOSTS
    user_id, auth = sign_up(stack.base_url)
    with (
        httpx.Client(base_url=stack.base_url, timeout=30) as client,
        WebhookReceiver() as failing,
        WebhookReceiver() as watcher,
    ):
        for url in (failing.url, f"http://localhost:{failing.port}/webhooks"):
            refused = client.post(
                "/webhooks/endpoints",
                json={"url": url, "events": ["wallet_credited"]},
                headers={**auth, **WAIT},
            )
            assert refused.status_code == 422, refused.text
            assert refused.json()["field"] == "url"
            assert "loopback" in refused.json()["detail"]

        restart_worker(stack, **FAILING)
        endpoint = client.post(
            "/webhooks/endpoints",
            json={"url": failing.url, "events": ["wallet_credited"]},
            headers={**auth, **WAIT},
        ).json()
        announced = client.post(
            "/webhooks/endpoints",
            json={"url": watcher.url, "events": ["webhook_endpoint_disabled"]},
            headers={**auth, **WAIT},
        ).json()
        failing.secrets, watcher.secrets = [endpoint["secret"]], [announced["secret"]]
        failing.fail_first(1000)
        started = datetime.now(UTC) - timedelta(seconds=1)

        deposit(client, auth)  # three tries fail; the endpoint is failing since the first
        wait_for(lambda: len(failing.requests) == 3, 15, "three failed tries")
        time.sleep(2.2)
        deposit(client, auth)  # its first failed try is 2 s after the first: disabled
        disabled = wait_for(lambda: watcher.requests, 15, "webhook_endpoint_disabled")
        assert disabled[0].verified_by == [announced["secret"]]
        assert disabled[0].body["type"] == "webhook_endpoint_disabled"
        assert disabled[0].body["data"]["endpoint_id"] == endpoint["endpoint_id"]
        assert disabled[0].body["data"]["owner_id"] == user_id
        info = endpoint_of(client, auth, endpoint["endpoint_id"])
        assert info["enabled"] is False and info["disabled_reason"]

        tried = len(failing.requests)
        deposit(client, auth)  # a disabled endpoint hears nothing
        time.sleep(1.5)
        assert len(failing.requests) == tried

        path = f"/webhooks/endpoints/{endpoint['endpoint_id']}"
        early = client.post(
            f"{path}/recover", json={"since": started.isoformat()}, headers={**auth, **WAIT}
        )
        assert early.status_code == 409, early.text
        failing.fail_first(0)
        assert client.post(f"{path}/enable", headers={**auth, **WAIT}).status_code == 200
        recovered = client.post(
            f"{path}/recover", json={"since": started.isoformat()}, headers={**auth, **WAIT}
        )
        assert recovered.status_code == 200, recovered.text
        assert recovered.json()["recovered"] == 2
        wait_for(
            lambda: len({r.webhook_id for r in failing.requests if r.status == 200}) == 2,
            15,
            "both failed deliveries, recovered",
        )
        listed = client.get(f"{path}/deliveries", headers=auth).json()["items"]
        assert [d["state"] for d in listed] == ["succeeded", "succeeded"]

        # A delivery sent again by hand: one more try, the same webhook-id.
        newest = listed[0]["delivery_id"]
        before = len(failing.for_id(newest))
        again = client.post(f"/webhooks/deliveries/{newest}/retry", headers={**auth, **WAIT})
        assert again.status_code == 200, again.text
        wait_for(lambda: len(failing.for_id(newest)) == before + 1, 15, "the retry by hand")
        assert failing.for_id(newest)[-1].status == 200
