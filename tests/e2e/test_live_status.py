"""``GET /commands/{id}/stream``: Server-Sent Events of a command, in order, until it is done."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hookline.client.sse import ServerEvent, iter_events
from tests.e2e.helpers import claim, new_user, register, signed_up

pytestmark = pytest.mark.e2e

LIFECYCLE = ["accepted", "running", "succeeded"]


def read_stream(client: httpx.Client, url: str, headers: dict[str, str]) -> list[ServerEvent]:
    """Every event of the stream; returns only once the server closes it."""
    with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(iter_events(response.iter_lines()))


def check_stream(events: list[ServerEvent], document: dict[str, Any]) -> None:
    """Status changes follow the lifecycle, hooks come in trace order, ``done`` is last."""
    assert [int(e.id or 0) for e in events] == list(range(1, len(events) + 1))
    statuses = [e.json()["status"] for e in events if e.event == "status"]
    assert statuses == [s for s in LIFECYCLE if s in statuses] and statuses[-1] == "succeeded"
    hooks = [e.json() for e in events if e.event == "hook"]
    assert [(h["event_id"], h["module"], h["handler"]) for h in hooks] == [
        (h["event_id"], h["module"], h["handler"]) for h in document["hooks"]
    ]
    assert events[-1].event == "done" and events[-1].json() == document
    assert document["hooks_pending"] == 0 and document["status"] == "succeeded"


def test_stream_follows_a_deposit_to_its_end_and_closes(client: httpx.Client) -> None:
    """Opened right after a 202, the stream shows every change and hook run, then closes."""
    _, auth = signed_up(client)
    accepted = client.post("/wallet/deposit", json={"amount": 5}, headers=auth)
    assert accepted.status_code == 202
    events = read_stream(client, accepted.headers["Location"] + "/stream", auth)
    document = client.get(accepted.headers["Location"], headers=auth).json()
    check_stream(events, document)
    handlers = [f"{h['module']}.{h['handler']}" for h in document["hooks"]]
    assert handlers == ["notifications.notify", "audit.record", "webhooks.fan_out"]


def test_stream_of_a_finished_command_replays_it_and_closes(client: httpx.Client) -> None:
    """A command that is already done streams its final status, its hooks and ``done``."""
    response = register(client, new_user())
    assert response.status_code == 201
    location = response.headers["Location"]
    events = read_stream(client, location + "/stream", claim(response))
    document = client.get(location, headers=claim(response)).json()
    check_stream(events, document)
    assert [e.json()["status"] for e in events if e.event == "status"] == ["succeeded"]
    assert {("user_created", "wallet", "open_wallet")} <= {
        (h["event"], h["module"], h["handler"]) for h in document["hooks"]
    }


def test_stream_is_for_the_owner_only(client: httpx.Client) -> None:
    """Another user, an anonymous caller and an unknown id all get 404 problems."""
    _, owner = signed_up(client)
    _, other = signed_up(client)
    location = client.post("/wallet/deposit", json={"amount": 1}, headers=owner).headers["Location"]
    for headers in (other, {}):
        response = client.get(location + "/stream", headers=headers)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
    assert client.get("/commands/" + "0" * 32 + "/stream").status_code == 404
