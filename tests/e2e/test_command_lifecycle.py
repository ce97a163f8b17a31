"""The command lifecycle on the shared stack: listing, scheduling, cancelling, bad timing."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from hookline.client.sse import iter_events
from tests.e2e.helpers import poll, signed_up

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=30"}
Doc = dict[str, Any]


def deposit(client: httpx.Client, auth: dict[str, str], amount: int, **headers: str) -> str:
    response = client.post("/wallet/deposit", json={"amount": amount}, headers={**auth, **headers})
    assert response.status_code in (200, 202), response.text
    command_id: str = response.headers["Location"].rsplit("/", 1)[1]
    return command_id


def listing(client: httpx.Client, auth: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/commands", params=params, headers=auth)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


def rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_a_caller_lists_their_commands_newest_first_with_filters_and_a_cursor(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    """Five deposits and a withdraw that fails: pages of two walk all six newest first, the
    status and name filters select, another user sees none of them, and only an operator
    or admin may ask for someone else's (``owner``)."""
    user_id, auth = signed_up(client)
    deposits = [deposit(client, auth, 1, **WAIT) for _ in range(5)]
    withdraw = client.post("/wallet/withdraw", json={"amount": 10_000}, headers={**auth, **WAIT})
    assert withdraw.status_code == 409, withdraw.text
    failed = withdraw.headers["Location"].rsplit("/", 1)[1]
    mine = [failed, *reversed(deposits)]
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(4):
        page = listing(client, auth, limit=2, **({"cursor": cursor} if cursor else {}))
        seen += [item["command_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == mine
    assert [i["command_id"] for i in listing(client, auth, status="failed")["items"]] == [failed]
    by_name = listing(client, auth, name="wallet.deposit", limit=100)["items"]
    assert [i["command_id"] for i in by_name] == list(reversed(deposits))
    assert set(by_name[0]) >= {"name", "status", "submitted_at", "finished_at", "deadline"}
    _, other = signed_up(client)
    assert listing(client, other)["items"] == []
    assert client.get("/commands", params={"owner": user_id}, headers=other).status_code == 403
    theirs = listing(client, admin, owner=f"user:{user_id}", limit=100)["items"]
    assert [i["command_id"] for i in theirs] == mine


def test_bad_list_parameters_are_400_or_422_naming_the_parameter(client: httpx.Client) -> None:
    """A cursor the API never gave, a limit out of range, an unknown status or parameter."""
    _, auth = signed_up(client)
    for params, name in [
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"status": "sleeping"}, "status"),
        ({"owner": "x y"}, "owner"),
        ({"colour": "red"}, "colour"),
    ]:
        response = client.get("/commands", params=params, headers=auth)
        assert response.status_code in (400, 422), (params, response.text)
        assert name in response.text
    assert client.get("/commands").status_code == 401


def test_a_scheduled_command_starts_within_a_second_after_its_time_and_not_before(
    client: httpx.Client, store: Database[Doc]
) -> None:
    """``Command-Not-Before`` 3 s ahead: 202 ``scheduled``, listed as such; it starts no
    earlier than its time and within a second after it, once."""
    _, auth = signed_up(client)
    not_before = datetime.now(UTC) + timedelta(seconds=3)
    response = client.post(
        "/wallet/deposit",
        json={"amount": 7},
        headers={**auth, "Command-Not-Before": rfc3339(not_before)},
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "scheduled"
    command_id = response.json()["command_id"]
    assert listing(client, auth, status="scheduled")["items"][0]["command_id"] == command_id
    document = poll(client, f"/commands/{command_id}", timeout_s=15, headers=auth)
    assert document["status"] == "succeeded", document
    started = datetime.fromisoformat(document["started_at"])
    assert datetime.fromisoformat(document["not_before"]) == not_before.replace(
        microsecond=not_before.microsecond // 1000 * 1000
    )
    assert not_before <= started < not_before + timedelta(seconds=1), (not_before, started)
    assert document["attempts"] == 1
    assert store["wallet_ledger"].count_documents({"_id": command_id}) == 1


def test_a_scheduled_command_cancelled_before_its_time_never_runs(
    client: httpx.Client, store: Database[Doc]
) -> None:
    """Cancelled while scheduled: 200 with the cancelled document, still cancelled after its
    time, no ledger entry; a second cancel answers the same, a stranger gets 404."""
    _, auth = signed_up(client)
    command_id = deposit(client, auth, 5, **{"Command-Not-Before": "2"})
    cancelled = client.post(f"/commands/{command_id}/cancel", headers=auth)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["error"]["type"].endswith("/command-cancelled")
    assert client.post(f"/commands/{command_id}/cancel", headers=auth).status_code == 200
    _, stranger = signed_up(client)
    assert client.post(f"/commands/{command_id}/cancel", headers=stranger).status_code == 404
    time.sleep(3)
    document = client.get(f"/commands/{command_id}", headers=auth).json()
    assert document["status"] == "cancelled" and document["attempts"] == 0
    assert store["wallet_ledger"].count_documents({"_id": command_id}) == 0


def test_a_stream_reports_scheduled_then_cancelled_and_ends(client: httpx.Client) -> None:
    """The stream of a scheduled command: ``status`` scheduled; after the cancel, ``status``
    cancelled and ``done``, and the stream ends."""
    _, auth = signed_up(client)
    command_id = deposit(client, auth, 1, **{"Command-Not-Before": "600"})
    seen: list[tuple[str, str]] = []
    with client.stream("GET", f"/commands/{command_id}/stream", headers=auth) as stream:
        for event in iter_events(stream.iter_lines()):
            data = event.json()
            seen.append((event.event, data.get("status", "")))
            if event.event == "status" and data["status"] == "scheduled":
                assert client.post(f"/commands/{command_id}/cancel", headers=auth).is_success
    assert seen == [("status", "scheduled"), ("status", "cancelled"), ("done", "cancelled")]


def test_cancelling_a_finished_command_is_409(client: httpx.Client) -> None:
    """A command that succeeded stays succeeded: 409 naming its status."""
    _, auth = signed_up(client)
    command_id = deposit(client, auth, 1, **WAIT)
    response = client.post(f"/commands/{command_id}/cancel", headers=auth)
    assert response.status_code == 409, response.text
    assert "succeeded" in response.json()["detail"]


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Command-Not-Before", "tomorrow"),
        ("Command-Not-Before", "²"),
        ("Command-Not-Before", "2026-13-01T00:00:00Z"),
        ("Command-Not-Before", "2026-12-01T00:00:00"),  # no offset
        ("Command-Not-Before", str(31 * 24 * 3600)),  # past the 30-day horizon
        ("Command-Deadline", "2001-01-01T00:00:00Z"),  # passed already
        ("Command-Deadline", "0"),
    ],
)
def test_bad_timing_headers_are_400_naming_the_header_and_leave_nothing(
    client: httpx.Client, header: str, value: str
) -> None:
    """Refused before anything is recorded: no command is listed, and the Idempotency-Key
    is free for a good request."""
    _, auth = signed_up(client)
    key = {"Idempotency-Key": f"timing-{uuid.uuid4().hex}"}
    # Byte 0xB2 is '²' as the gateway reads a header (Latin-1, like every HTTP server).
    sent = [(k.encode(), v.encode("latin-1")) for k, v in {**auth, **key, header: value}.items()]
    response = client.post("/wallet/deposit", json={"amount": 1}, headers=sent)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == header
    assert listing(client, auth)["items"] == []
    again = client.post("/wallet/deposit", json={"amount": 1}, headers={**auth, **key})
    assert again.status_code == 202 and "Idempotent-Replayed" not in again.headers


def test_a_deadline_before_the_not_before_is_400(client: httpx.Client) -> None:
    """It could never run."""
    _, auth = signed_up(client)
    response = client.post(
        "/wallet/deposit",
        json={"amount": 1},
        headers={**auth, "Command-Not-Before": "60", "Command-Deadline": "30"},
    )
    assert response.status_code == 400
    assert response.json()["field"] == "Command-Deadline"
