"""Idempotency-Key (draft-ietf-httpapi-idempotency-key-header) on the session's stack.

One effect per (caller, route, key): a repeat of a finished request is replayed, one
of a request still in flight is 409 (or waits, with ``Prefer: wait``), another body
is 422. In-flight cases use the limited gateway, whose broker nobody consumes, so a
command stays unfinished for as long as a test needs; a test that needs one running
plays the worker that took it, then hands it to the real worker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import cast

import httpx
import pytest
import redis
from celery import Celery
from pymongo.database import Database

from api_gateway.idempotency import KeyScope, record_key
from core import keys
from core.celery_app import make_celery
from core.command_state import CommandStateStore
from core.settings import Settings
from events import Actor, Command, SerializeBy, serial_key
from tests.conftest import RunningStack
from tests.e2e.helpers import bearer, claim, new_user, register, signed_up
from tests.e2e.test_redelivery import deliver_command
from tests.security.conftest import (
    Doc,
    LimitedGateway,
    assert_refused,
    ledger_count,
    unique_ip,
)

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=10"}
DAY_S = 24 * 3600
# How long the test, playing a worker, holds a command it took: the real worker's delivery
# waits that long (plus a second) before it runs it.
LEASE_S = 6
COMMAND_TTL_S = Settings.model_fields["command_ttl_s"].default


@pytest.fixture
def broker(stack: RunningStack) -> Iterator[Celery]:
    app = make_celery(Settings(BROKER_URL=stack.env["BROKER_URL"]))
    yield app
    app.close()


def deposit(
    client: httpx.Client,
    auth: dict[str, str],
    amount: int,
    key: str,
    *,
    wait: bool = True,
    path: str = "/wallet/deposit",
) -> httpx.Response:
    headers = {**auth, "Idempotency-Key": key, **(WAIT if wait else {})}
    return client.post(path, json={"amount": amount}, headers=headers)


def deposit_command(command_id: str, actor: Actor, amount: int) -> Command:
    """The command a gateway accepted for a deposit, as its message carries it."""
    return Command(
        id=command_id,
        name="wallet.deposit",
        payload={"amount": amount},
        actor=actor,
        serial_key=serial_key(SerializeBy.ACTOR, actor),
    )


def replayed(response: httpx.Response) -> bool:
    return bool(response.headers.get("Idempotent-Replayed") == "true")


def command_id_of(response: httpx.Response) -> str:
    return response.headers["Location"].rsplit("/", 1)[1]


def assert_in_use(response: httpx.Response, location: str) -> None:
    """409 naming the header, pointing at the first request's command, with Retry-After."""
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/idempotency-key-in-use")
    assert problem["field"] == "Idempotency-Key"
    assert response.headers["Location"] == location
    assert response.headers["Retry-After"] == "1"
    assert not replayed(response)


def test_the_same_key_and_body_give_the_same_command_once(
    client: httpx.Client, store: Database[Doc]
) -> None:
    """Repeating a finished deposit replays its answer, waiting or not; one deposit applies."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    first = deposit(client, auth, 25, key)
    again = deposit(client, auth, 25, key)
    later = deposit(client, auth, 25, key, wait=False)
    assert (first.status_code, first.json()) == (200, {"balance": 125})
    assert not replayed(first)
    for replay in (again, later):
        assert (replay.status_code, replay.json()) == (200, {"balance": 125})
        assert replayed(replay)
    assert first.headers["Location"] == again.headers["Location"] == later.headers["Location"]
    assert ledger_count(store, user_id) == 2


def test_a_failed_command_is_replayed_as_its_problem(
    client: httpx.Client, store: Database[Doc]
) -> None:
    """A refused withdrawal repeated with its key answers the same problem, and runs once."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    first = deposit(client, auth, 500, key, path="/wallet/withdraw")
    again = deposit(client, auth, 500, key, path="/wallet/withdraw", wait=False)
    assert first.status_code == again.status_code == 409
    assert first.json()["type"].endswith("/insufficient-funds")
    assert again.json() == first.json() and replayed(again)
    assert again.headers["Location"] == first.headers["Location"]
    assert ledger_count(store, user_id) == 1


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
    assert not replayed(second)
    assert ledger_count(store, alice_id) == ledger_count(store, bob_id) == 2


def test_the_same_key_on_another_route_is_another_command(
    client: httpx.Client, store: Database[Doc]
) -> None:
    """Keys are per route too: one key and body on deposit and on withdraw are two commands."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    deposited = deposit(client, auth, 30, key)
    withdrawn = deposit(client, auth, 30, key, path="/wallet/withdraw")
    assert (deposited.status_code, deposited.json()) == (200, {"balance": 130})
    assert (withdrawn.status_code, withdrawn.json()) == (200, {"balance": 100})
    assert not replayed(withdrawn)
    assert deposited.headers["Location"] != withdrawn.headers["Location"]
    assert ledger_count(store, user_id) == 3


def test_a_key_over_255_characters_is_400(client: httpx.Client, store: Database[Doc]) -> None:
    """An Idempotency-Key of 256 characters is 400 and nothing is deposited; 255 is fine."""
    user_id, auth = signed_up(client)
    assert_refused(deposit(client, auth, 1, "k" * 256), 400)
    assert ledger_count(store, user_id) == 1
    assert deposit(client, auth, 1, "k" * 255).status_code == 200


def test_the_drafts_quoted_form_is_the_same_key_as_the_bare_one(
    client: httpx.Client, store: Database[Doc]
) -> None:
    """``"k"`` (an sf-string, as the draft writes keys) and ``k`` are one key; junk is 400."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    first = deposit(client, auth, 3, f'"{key}"')
    again = deposit(client, auth, 3, key)
    assert first.status_code == 200 and replayed(again)
    assert again.headers["Location"] == first.headers["Location"]
    for junk in (f'"{key}', f"{key} {key}", f'"{key}";x=1', f"{key},{key}"):
        response = deposit(client, auth, 3, junk)
        assert_refused(response, 400)
        assert response.json()["field"] == "Idempotency-Key"
    assert ledger_count(store, user_id) == 2


def test_a_key_expires_a_day_after_its_first_use(
    client: httpx.Client, redis_client: redis.Redis
) -> None:
    """The record lives HOOKLINE_IDEMPOTENCY_TTL_S (24 h by default) from first use; a replay
    does not extend it."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    record = record_key(KeyScope(f"user:{user_id}", "wallet.deposit"), key)
    assert deposit(client, auth, 2, key).status_code == 200
    first_ttl = cast(int, redis_client.ttl(record))
    assert DAY_S - 60 < first_ttl <= DAY_S
    assert replayed(deposit(client, auth, 2, key))
    assert cast(int, redis_client.ttl(record)) <= first_ttl


def test_a_duplicate_in_flight_is_409_and_a_waiting_one_202(
    client: httpx.Client, limited: LimitedGateway, store: Database[Doc]
) -> None:
    """While the first deposit is accepted but not run: 409 with its Location and Retry-After;
    with Prefer: wait the duplicate waits, then answers 202 with the status it found."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    with limited.via_proxy(unique_ip()) as gateway:
        first = deposit(gateway, auth, 8, key, wait=False)
        assert first.status_code == 202 and not replayed(first)
        location = first.headers["Location"]
        assert_in_use(deposit(gateway, auth, 8, key, wait=False), location)
        waited = gateway.post(
            "/wallet/deposit",
            json={"amount": 8},
            headers={**auth, "Idempotency-Key": key, "Prefer": "wait=1"},
        )
    assert waited.status_code == 202 and replayed(waited)
    assert waited.json() == {
        "command_id": command_id_of(first),
        "status": "accepted",
        "status_url": location,
    }
    assert waited.headers["Location"] == location
    assert ledger_count(store, user_id) == 1


def test_a_running_command_answers_409_then_202_then_its_outcome(
    client: httpx.Client,
    limited: LimitedGateway,
    store: Database[Doc],
    redis_client: redis.Redis,
    broker: Celery,
) -> None:
    """A deposit that a worker holds: 409 without a wait, 202 "running" when a short wait runs
    out, and the outcome, replayed, for a wait that outlasts the run; one ledger entry."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    with limited.via_proxy(unique_ip()) as gateway:
        first = deposit(gateway, auth, 9, key, wait=False)
        command_id = command_id_of(first)
        # Play the worker that took the message: it runs the command for LEASE_S ...
        CommandStateStore(redis_client, COMMAND_TTL_S).start(command_id, lease_s=LEASE_S)
        # ... while the real worker gets it too, and runs it once that lease has ended.
        actor = Actor(user_id=user_id, roles=("user",))
        deliver_command(broker, deposit_command(command_id, actor, 9))
        assert_in_use(deposit(gateway, auth, 9, key, wait=False), first.headers["Location"])
        short = gateway.post(
            "/wallet/deposit",
            json={"amount": 9},
            headers={**auth, "Idempotency-Key": key, "Prefer": "wait=1"},
        )
        long = gateway.post(
            "/wallet/deposit",
            json={"amount": 9},
            headers={**auth, "Idempotency-Key": key, "Prefer": f"wait={LEASE_S + 15}"},
        )
    assert short.status_code == 202 and short.json()["status"] == "running" and replayed(short)
    assert (long.status_code, long.json()) == (200, {"balance": 109})
    assert replayed(long) and long.headers["Preference-Applied"] == f"wait={LEASE_S + 15}"
    assert store["wallet_ledger"].count_documents({"_id": command_id}) == 1
    assert ledger_count(store, user_id) == 2


def test_a_key_whose_request_was_refused_is_free_again(
    client: httpx.Client,
    limited: LimitedGateway,
    store: Database[Doc],
    redis_client: redis.Redis,
    broker: Celery,
) -> None:
    """Refused after the key was claimed (the in-flight cap): nothing stays claimed, and the
    same request, once admitted, runs as a first request."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    fillers = []
    with limited.via_proxy(unique_ip()) as gateway:
        for n in range(3):  # the cap: these stay in flight (nobody consumes this broker)
            filler = deposit(gateway, auth, 1 + n, uuid.uuid4().hex, wait=False)
            assert filler.status_code == 202
            fillers.append(command_id_of(filler))
        assert_refused(deposit(gateway, auth, 4, key, wait=False), 429)
    assert not redis_client.exists(record_key(KeyScope(f"user:{user_id}", "wallet.deposit"), key))
    # Deposits are lined up per user: the fillers reach the real worker first, as the sweep
    # of lost messages would send them, or the deposit below would wait behind them.
    actor = Actor(user_id=user_id, roles=("user",))
    for n, command_id in enumerate(fillers):
        deliver_command(broker, deposit_command(command_id, actor, 1 + n))
    ran = deposit(client, auth, 4, key)
    assert (ran.status_code, ran.json()) == (200, {"balance": 110}) and not replayed(ran)
    assert store["wallet_ledger"].count_documents({"_id": command_id_of(ran)}) == 1


def test_a_repeat_at_the_in_flight_cap_is_answered_from_its_command_and_takes_no_slot(
    client: httpx.Client, limited: LimitedGateway, redis_client: redis.Redis
) -> None:
    """The key's claim and the slot are taken in one round trip: a repeat whose key already
    has its command gives the slot back, and the cap does not refuse it."""
    user_id, auth = signed_up(client)
    sent = [uuid.uuid4().hex for _ in range(3)]
    with limited.via_proxy(unique_ip()) as gateway:
        firsts = [deposit(gateway, auth, 1, key, wait=False) for key in sent]
        assert [first.status_code for first in firsts] == [202] * 3  # the cap is full
        again = deposit(gateway, auth, 1, sent[0], wait=False)
    assert_in_use(again, firsts[0].headers["Location"])  # not 429: a repeat needs no slot
    held = cast(list[str], redis_client.zrange(keys.in_flight(f"user:{user_id}"), 0, -1))
    assert set(held) == {command_id_of(first) for first in firsts}


def test_anonymous_callers_keys_are_apart_by_address(limited: LimitedGateway) -> None:
    """Two addresses logging in with one key and body make two commands; one address, one."""
    user = new_user()
    body = {"email": user["email"], "password": user["password"]}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    with limited.via_proxy(unique_ip()) as one, limited.via_proxy(unique_ip()) as other:
        first = one.post("/public/login", json=body, headers=key)
        elsewhere = other.post("/public/login", json=body, headers=key)
        again = one.post("/public/login", json=body, headers=key)
    assert first.status_code == elsewhere.status_code == 202
    assert first.headers["Location"] != elsewhere.headers["Location"]
    assert not replayed(elsewhere)
    assert_in_use(again, first.headers["Location"])  # nobody runs the limited gateway's


def test_a_replayed_login_hands_its_tokens_over_once(client: httpx.Client) -> None:
    """A login's tokens go to the first of its submitter's reads, a replay included; a replay
    after that answers the result without them."""
    user = new_user()
    assert register(client, user).status_code == 201
    body = {"email": user["email"], "password": user["password"]}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = client.post("/public/login", json=body, headers=key)
    assert first.status_code == 202
    taken = client.post("/public/login", json=body, headers={**key, **WAIT})
    assert taken.status_code == 200 and replayed(taken)
    assert taken.headers["Cache-Control"] == "no-store"
    assert client.get("/userauth/me", headers=bearer(taken.json())).status_code == 200
    later = client.post("/public/login", json=body, headers={**key, **WAIT})
    assert later.status_code == 200 and replayed(later)
    assert set(later.json()) == {"token_type", "expires_in"}
    document = client.get(first.headers["Location"], headers=claim(first)).json()
    assert document["result_redacted"] is True
