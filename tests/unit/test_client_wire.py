"""The client's requests and its reading of answers, against ``httpx.MockTransport``: the
headers and paths it sends, the records and exceptions it makes of what comes back, and
its retries. What crosses to a real gateway is in tests/e2e/test_client*.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from hookline.client import (
    Accepted,
    AsyncClient,
    Client,
    CommandStatus,
    Conflict,
    ConnectionFailed,
    Forbidden,
    Gone,
    HooklineProblem,
    InvalidArgument,
    InvalidRequest,
    KeyInUse,
    NotFound,
    Outcome,
    ProtocolError,
    RateLimited,
    StatusEvent,
    Unauthorized,
    Unavailable,
    WaitTimeout,
)
from hookline.client import sync as sync_client
from hookline.client.base import Claims
from hookline.client.retry import RetryPolicy

BASE = "http://gateway.test"
ID = "a" * 32
PROBLEM = "application/problem+json"
OPENAPI = {
    "paths": {
        "/wallet/deposit": {"post": {"operationId": "wallet.deposit"}},
        "/wallet/balance": {"get": {"operationId": "wallet.balance"}},
        "/admin/api-keys/{key_id}": {"delete": {"operationId": "api_keys.revoke"}},
        "/health": {"get": {}},
    }
}
Handler = Callable[[httpx.Request], httpx.Response]


def document(**fields: Any) -> dict[str, Any]:
    """A command document as the gateway sends it."""
    return {
        "command_id": ID,
        "name": "wallet.deposit",
        "status": "succeeded",
        "attempts": 1,
        "submitted_at": "2026-12-01T10:00:00Z",
        **fields,
    }


def problem(status: int, **fields: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": "Refused", "status": status, **fields}
    return httpx.Response(status, json=body, headers={"Content-Type": PROBLEM})


class Recorder:
    """A MockTransport handler that records each request and answers from a script."""

    def __init__(self, *answers: httpx.Response | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/openapi.json":
            return httpx.Response(200, json=OPENAPI)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return answer(request) if callable(answer) else answer

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def client(recorder: Recorder, **options: Any) -> Client:
    api = Client(BASE, transport=httpx.MockTransport(recorder), **options)
    api.retry = RetryPolicy(options.get("retries", 3), backoff_base_s=0.0)
    return api


def accepted(headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"command_id": ID, "status": "accepted", "status_url": f"/commands/{ID}"}
    return httpx.Response(
        202, json=body, headers={"Location": f"/commands/{ID}", **(headers or {})}
    )


# -- submit: what is sent ---------------------------------------------------------------------


def test_submit_sends_a_new_key_and_the_time_headers() -> None:
    """Each submit carries a fresh Idempotency-Key; ``wait`` becomes ``Prefer: wait=N``
    (rounded up), ``not_before``/``deadline`` RFC 3339 or whole seconds from now."""
    recorder = Recorder(accepted())
    api = client(recorder)
    moment = datetime(2027, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    api.submit("/wallet/deposit", {"amount": 1}, wait=2.5, not_before=moment, deadline=90.2)
    first = recorder.last
    assert first.headers["Prefer"] == "wait=3"
    assert first.headers["Command-Not-Before"] == "2027-01-02T01:04:05Z"
    assert first.headers["Command-Deadline"] == "91"
    assert json.loads(first.content) == {"amount": 1}
    api.submit("POST /wallet/deposit", {"amount": 1}, not_before=timedelta(minutes=1))
    second = recorder.last
    assert second.headers["Command-Not-Before"] == "60" and "Prefer" not in second.headers
    assert first.headers["Idempotency-Key"] != second.headers["Idempotency-Key"]
    api.submit("/wallet/deposit", {}, idempotency_key="mine-1")
    assert recorder.last.headers["Idempotency-Key"] == "mine-1"


@pytest.mark.parametrize(
    "options",
    [
        {"not_before": datetime(2027, 1, 1)},  # naive
        {"deadline": -1},
        {"wait": -5},
        {"deadline": float("nan")},
    ],
)
def test_bad_times_are_refused_before_sending(options: dict[str, Any]) -> None:
    """A naive datetime, a negative or a non-finite time is ``InvalidArgument``, unsent."""
    recorder = Recorder(accepted())
    with pytest.raises(InvalidArgument):
        client(recorder).submit("/wallet/deposit", {}, **options)
    assert recorder.requests == []


def test_a_command_name_is_looked_up_once_in_openapi() -> None:
    """Names resolve through ``/openapi.json`` read once per client; a query goes as GET
    with its payload in the query string and no key; path parameters fill the path."""
    recorder = Recorder(accepted())
    api = client(recorder)
    api.submit("wallet.deposit", {"amount": 2})
    assert (recorder.last.method, recorder.last.url.path) == ("POST", "/wallet/deposit")
    api.submit("wallet.balance", {"fresh": True})
    assert recorder.last.method == "GET" and recorder.last.url.params["fresh"] == "true"
    assert "Idempotency-Key" not in recorder.last.headers
    api.submit("api_keys.revoke", {"key_id": "k/1", "reason": "lost"})
    assert recorder.last.url.raw_path == b"/admin/api-keys/k%2F1"
    assert json.loads(recorder.last.content) == {"reason": "lost"}
    assert [r.url.path for r in recorder.requests].count("/openapi.json") == 1
    with pytest.raises(InvalidArgument, match="key_id"):
        api.submit("api_keys.revoke", {})


def test_credentials_are_a_bearer_token_or_an_api_key() -> None:
    """``token`` is sent as ``Authorization: Bearer``, ``api_key`` as ``X-API-Key``."""
    recorder = Recorder(httpx.Response(200, json=document()))
    client(recorder, token="t0k").get(ID)
    assert recorder.last.headers["Authorization"] == "Bearer t0k"
    client(recorder, api_key="hk_1").get(ID)
    assert recorder.last.headers["X-API-Key"] == "hk_1"
    assert "Authorization" not in recorder.last.headers
    with pytest.raises(InvalidArgument):
        Client(BASE, token="t", api_key="k")


# -- submit: what comes back --------------------------------------------------------------------


def test_a_202_is_accepted_and_its_claim_is_sent_back() -> None:
    """The claim of an anonymous command is kept and sent with every later call about it."""
    recorder = Recorder(
        accepted({"Command-Claim": "-secret"}), httpx.Response(200, json=document())
    )
    api = client(recorder)
    answer = api.submit("/wallet/deposit", {})
    assert answer == Accepted(
        command_id=ID, status=CommandStatus.ACCEPTED, status_url=f"/commands/{ID}", claim="-secret"
    )
    assert "-secret" not in repr(answer)  # a credential
    api.get(ID)
    assert recorder.last.headers["Command-Claim"] == "-secret"
    api.get("b" * 32)
    assert "Command-Claim" not in recorder.last.headers


def test_an_outcome_is_the_routes_status_and_body() -> None:
    """A finished command answers its own status and body, its id from ``Location``, and
    whether it was a replay."""
    response = httpx.Response(
        201,
        json={"user_id": "u1"},
        headers={"Location": f"/commands/{ID}", "Idempotent-Replayed": "true"},
    )
    answer = client(Recorder(response)).submit("/public/register", {}, wait=5)
    assert answer == Outcome(status_code=201, body={"user_id": "u1"}, command_id=ID, replayed=True)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (410, Gone),
        (413, HooklineProblem),
        (422, InvalidRequest),
        (429, RateLimited),
        (503, Unavailable),
    ],
)
def test_problems_map_to_exceptions_by_status(status: int, kind: type[HooklineProblem]) -> None:
    """Each status has its exception; one without its own is the base ``HooklineProblem``."""
    with pytest.raises(HooklineProblem) as raised:
        client(Recorder(problem(status, detail="no"))).get(ID)
    assert type(raised.value) is kind and raised.value.status == status
    assert str(raised.value) == f"{status} Refused: no"


def test_a_problem_names_its_fields_and_when_to_come_back() -> None:
    """``errors`` (or a lone ``field``) become ``FieldError``s; ``Retry-After`` is read; a
    failed command's problem carries its id."""
    errors = [{"field": "amount", "message": "must be > 0", "type": "greater_than"}]
    with pytest.raises(InvalidRequest) as invalid:
        client(Recorder(problem(422, errors=errors))).submit("/wallet/deposit", {})
    assert invalid.value.fields == ("amount",) and invalid.value.errors[0].message == "must be > 0"
    assert invalid.value.command_id is None
    with pytest.raises(RateLimited) as limited:
        limited_answer = problem(429, field="Prefer")
        limited_answer.headers["Retry-After"] = "7"
        client(Recorder(limited_answer)).submit("/wallet/deposit", {})
    assert limited.value.retry_after_s == 7 and limited.value.fields == ("Prefer",)
    failed = problem(409, detail="insufficient funds")
    failed.headers["Location"] = f"/commands/{ID}"
    with pytest.raises(Conflict) as conflict:
        client(Recorder(failed)).submit("/wallet/withdraw", {}, wait=5)
    assert conflict.value.command_id == ID


def test_an_error_that_is_not_a_problem_document_still_raises_one() -> None:
    """A proxy's HTML page becomes a problem with the status, its reason and the text."""
    page = httpx.Response(502, text="<h1>Bad gateway</h1>")
    with pytest.raises(HooklineProblem) as raised:
        client(Recorder(page)).get(ID)
    assert raised.value.status == 502 and raised.value.title == "Bad Gateway"
    assert raised.value.detail == "<h1>Bad gateway</h1>"


def test_a_body_that_is_not_the_api_is_a_protocol_error() -> None:
    """A 200 whose body is not JSON, or not a command document, is ``ProtocolError``."""
    with pytest.raises(ProtocolError):
        client(Recorder(httpx.Response(200, text="hello"))).get(ID)
    with pytest.raises(ProtocolError):
        client(Recorder(httpx.Response(200, json={"status": "nope"}))).get(ID)


# -- retries ----------------------------------------------------------------------------------


def test_a_transport_error_is_retried_with_the_same_key() -> None:
    """The first try's connection breaks; the second goes with the same Idempotency-Key."""
    tries: list[httpx.Request] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        tries.append(request)
        if len(tries) == 1:
            raise httpx.ConnectError("refused", request=request)
        return accepted({"Idempotent-Replayed": "true"})

    answer = client(Recorder(flaky)).submit("/wallet/deposit", {"amount": 1})
    assert isinstance(answer, Accepted) and answer.replayed
    assert tries[0].headers["Idempotency-Key"] == tries[1].headers["Idempotency-Key"]


def test_retries_are_bounded_and_then_the_error_is_connection_failed() -> None:
    """After ``retries`` more tries the client gives up with ``ConnectionFailed``."""
    tries: list[httpx.Request] = []

    def down(request: httpx.Request) -> httpx.Response:
        tries.append(request)
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ConnectionFailed, match="after 3 tries") as failed:
        client(Recorder(down), retries=2).get(ID)
    assert len(tries) == 3 and isinstance(failed.value.__cause__, httpx.ConnectError)


def test_a_key_still_in_flight_is_asked_again_after_retry_after() -> None:
    """409 for the key (its first request still running) is sent again; the replay is the
    answer. Out of tries, it is ``KeyInUse`` with the command's id."""
    in_use = problem(409, type="https://hookline.dev/problems/idempotency-key-in-use")
    in_use.headers.update({"Retry-After": "0", "Location": f"/commands/{ID}"})
    replay = httpx.Response(200, json={"balance": 5}, headers={"Idempotent-Replayed": "true"})
    recorder = Recorder(in_use, replay)
    answer = client(recorder).submit("/wallet/deposit", {})
    assert isinstance(answer, Outcome) and answer.replayed and len(recorder.requests) == 2
    with pytest.raises(KeyInUse) as still:
        client(Recorder(in_use), retries=1).submit("/wallet/deposit", {})
    assert still.value.command_id == ID and still.value.status == 409


def test_no_retry_starts_after_the_deadline() -> None:
    """A wait's stream is not tried again when the pause would end past the wait."""
    attempts = RetryPolicy(5, backoff_base_s=10.0).start(deadline=time.monotonic() + 1)
    error = httpx.ConnectError("refused", request=httpx.Request("GET", f"{BASE}/x"))
    with pytest.raises(ConnectionFailed, match="after 1 try"):
        attempts.after_error(error)
    assert RetryPolicy(5, backoff_base_s=0.0).start(time.monotonic() + 60).after_error(error) == 0


def test_backoff_doubles_up_to_its_cap_with_half_jitter() -> None:
    """Try n waits between half and all of base·2^(n-1), never more than the cap."""
    policy = RetryPolicy(5, backoff_base_s=1.0, backoff_max_s=4.0)
    for retry, full in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 4.0)]:
        assert full / 2 <= policy.backoff_s(retry) <= full
    with pytest.raises(InvalidArgument):
        RetryPolicy(-1)


# -- reading, listing, cancelling -----------------------------------------------------------------


def test_a_document_keeps_fields_it_does_not_know() -> None:
    """The lifecycle fields are read; a field a newer gateway adds is kept, not refused."""
    body = document(
        not_before="2026-12-01T10:05:00Z",
        deadline=None,
        cancel_requested=True,
        status="running",
        shiny_new_field=[1],
        hooks=[],
    )
    got = client(Recorder(httpx.Response(200, json=body))).get(ID)
    assert got.not_before == datetime(2026, 12, 1, 10, 5, tzinfo=UTC)
    assert got.cancel_requested and not got.is_done
    assert got.wire() == body


def test_an_id_cannot_leave_its_path() -> None:
    """A command id is quoted into ``/commands/{id}``, so ``../x`` reads no other route."""
    recorder = Recorder(httpx.Response(200, json=document()))
    client(recorder).get("../metrics")
    assert recorder.last.url.raw_path == b"/commands/..%2Fmetrics"


def page(ids: list[str], cursor: str | None) -> httpx.Response:
    items = [document(command_id=i) for i in ids]
    return httpx.Response(200, json={"items": items, "next_cursor": cursor})


def test_list_sends_its_filters_and_list_all_follows_the_cursor() -> None:
    """``list`` sends only the filters given; ``list_all`` reads page after page."""
    recorder = Recorder(page(["c3", "c2"], "cur-1"), page(["c1"], None))
    api = client(recorder)
    first = api.list(status=CommandStatus.SUCCEEDED, name="wallet.deposit", limit=2, owner="u9")
    assert dict(recorder.last.url.params) == {
        "status": "succeeded",
        "name": "wallet.deposit",
        "limit": "2",
        "owner": "u9",
    }
    assert [c.command_id for c in first.items] == ["c3", "c2"] and first.next_cursor == "cur-1"
    recorder.answers = [page(["c3", "c2"], "cur-1"), page(["c1"], None)]
    assert [c.command_id for c in api.list_all(limit=2)] == ["c3", "c2", "c1"]
    assert recorder.last.url.params["cursor"] == "cur-1"


def test_cancel_posts_to_the_command_with_its_claim() -> None:
    """``cancel`` answers the document (cancelled, or cancel requested while it runs); a
    finished command is ``Conflict``, an expired one ``Gone``."""
    cancelled = httpx.Response(200, json=document(status="cancelled"))
    requested = httpx.Response(202, json=document(status="running", cancel_requested=True))
    recorder = Recorder(cancelled, requested, problem(409), problem(410))
    api = client(recorder)
    assert api.cancel(ID, claim="c1").status is CommandStatus.CANCELLED
    assert (recorder.last.method, recorder.last.url.path) == ("POST", f"/commands/{ID}/cancel")
    assert recorder.last.headers["Command-Claim"] == "c1" and recorder.last.content == b""
    assert api.cancel(ID).cancel_requested
    with pytest.raises(Conflict):
        api.cancel(ID)
    with pytest.raises(Gone):
        api.cancel(ID)


def test_claims_kept_are_bounded() -> None:
    """The oldest claims go once more are kept than the limit."""
    claims = Claims(limit=2)
    for n in range(3):
        claims.keep(f"c{n}", f"claim{n}")
    assert claims.headers("c0") == {} and claims.headers("c2") == {"Command-Claim": "claim2"}


# -- streams ------------------------------------------------------------------------------------


def sse(*events: tuple[str, Any]) -> bytes:
    return b"".join(
        f"id: {n}\nevent: {name}\ndata: {json.dumps(data)}\n\n".encode()
        for n, (name, data) in enumerate(events, start=1)
    )


def stream(body: bytes | Iterator[bytes]) -> httpx.Response:
    return httpx.Response(200, content=body, headers={"Content-Type": "text/event-stream"})


STATUS = {
    "command_id": ID,
    "name": "wallet.deposit",
    "status": "running",
    "attempts": 1,
    "hooks_pending": 0,
}


def test_a_stream_that_ends_before_done_is_a_protocol_error() -> None:
    """Unknown events are skipped; a stream cut short raises instead of ending quietly."""
    api = client(Recorder(stream(sse(("status", STATUS), ("future", {})))))
    events = api.follow(ID)
    assert isinstance(next(events), StatusEvent)
    with pytest.raises(ProtocolError, match="ended before"):
        next(events)


def test_a_gone_event_ends_a_wait_with_gone() -> None:
    """A command that expired while followed: ``follow`` yields ``GoneEvent``, ``wait``
    raises ``Gone``."""
    api = client(Recorder(stream(sse(("status", STATUS), ("gone", {"command_id": ID})))))
    assert [type(e).__name__ for e in api.follow(ID)] == ["StatusEvent", "GoneEvent"]
    with pytest.raises(Gone):
        api.wait(ID, timeout=5)


def keep_alives(pause_s: float, count: int) -> Iterator[bytes]:
    for _ in range(count):
        time.sleep(pause_s)
        yield b": keep-alive\n\n"


def test_a_wait_ends_on_time_while_keep_alives_come(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep-alives reset a read timeout, so the wait reopens the stream with what is left
    (each time a shorter read timeout), and gives up at its deadline, not the stream's end."""
    monkeypatch.setattr(sync_client, "_REOPEN_DRIFT_S", 0.05)
    recorder = Recorder(lambda _request: stream(keep_alives(0.02, 200)))
    with pytest.raises(WaitTimeout):
        client(recorder).wait(ID, timeout=0.5)
    reads = [r.extensions["timeout"]["read"] for r in recorder.requests]
    assert len(reads) > 1 and reads == sorted(reads, reverse=True) and reads[0] <= 0.5


# -- the async client -----------------------------------------------------------------------------


def test_the_async_client_builds_and_reads_the_same() -> None:
    """``AsyncClient`` sends the same requests and reads the same records and problems."""
    recorder = Recorder(
        accepted({"Command-Claim": "cl"}),
        page(["c1"], None),
        httpx.Response(200, json=document(status="cancelled")),
        problem(404),
    )

    async def scenario() -> None:
        async with AsyncClient(BASE, transport=httpx.MockTransport(recorder)) as api:
            answer = await api.submit("wallet.deposit", {"amount": 1}, not_before=5)
            assert isinstance(answer, Accepted) and answer.claim == "cl"
            assert recorder.last.headers["Command-Not-Before"] == "5"
            assert [c.command_id async for c in api.list_all(name="wallet.deposit")] == ["c1"]
            assert (await api.cancel(ID)).status is CommandStatus.CANCELLED
            assert recorder.last.headers["Command-Claim"] == "cl"
            with pytest.raises(NotFound):
                await api.get(ID)

    asyncio.run(scenario())
