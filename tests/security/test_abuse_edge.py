"""Attacks on the gateway's request path (docs/security-edge.md), replayed over real HTTP.

Each is refused with a 4xx problem document and leaves nothing behind: no
Idempotency-Key claimed, no in-flight slot, no open wait, no command, no ledger
entry. The open-wait cap is attacked on a gateway of its own (the session stack
lifts the per-caller cap for its load tests) whose broker nobody consumes, so a
command stays pending until the test hands it to the real worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest
import redis
from celery import Celery
from pymongo.database import Database

from api_gateway.idempotency import KeyScope, record_key
from core import keys
from core.celery_app import make_celery
from core.settings import Settings
from events import Actor, Command
from tests.conftest import RunningStack
from tests.e2e.helpers import new_user, register, signed_up
from tests.e2e.test_redelivery import deliver_command
from tests.security.conftest import Doc, assert_refused, gateway_alone, ledger_count

pytestmark = pytest.mark.e2e

WAIT = {"Prefer": "wait=10"}
JSON = {"Content-Type": "application/json"}
# Byte 0xB2 is '²' once the gateway reads the header (as Latin-1, like every HTTP server):
# a character str.isdigit() takes and int() refuses.
SUPERSCRIPT_TWO = [(b"Prefer", "wait=²".encode("latin-1"))]
OPEN_WAITS = Settings.model_fields["max_open_waits_per_caller"].default
# Far longer than the test reads a stream: its events arrive through pub/sub, or not at all.
LONG_RECHECK_S = 60


def in_flight(redis_client: redis.Redis, identity: str) -> set[str]:
    return set(cast(list[str], redis_client.zrange(keys.in_flight(identity), 0, -1)))


def balance(client: httpx.Client, auth: dict[str, str]) -> int:
    response = client.get("/wallet/balance", headers=auth)
    assert response.status_code == 200, response.text
    value: int = response.json()["balance"]
    return value


# -- 1. Prefer: wait=² ------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A caller and a route to attack: a user's deposit, or an anonymous login."""

    identity: str
    command: str
    path: str
    body: dict[str, Any]
    auth: dict[str, str]


def attack_targets(client: httpx.Client) -> list[Target]:
    user_id, auth = signed_up(client)
    user = new_user()
    assert register(client, user).status_code == 201
    login = {"email": user["email"], "password": user["password"]}
    return [
        Target(f"user:{user_id}", "wallet.deposit", "/wallet/deposit", {"amount": 1}, auth),
        # The session stack trusts no proxy: an anonymous caller here is 127.0.0.1.
        Target("ip:127.0.0.1", "user_management.login", "/public/login", login, {}),
    ]


def test_a_malformed_prefer_wait_is_400_and_strands_no_key_and_no_slot(
    client: httpx.Client, redis_client: redis.Redis
) -> None:
    """150 requests with ``Prefer: wait=²``, half with one Idempotency-Key, as a user (a
    deposit) and anonymously (a login): all 400 naming Prefer; no key claimed, no in-flight
    slot left, nothing deposited; then the request with a good wait runs, as the key's first."""
    for target in attack_targets(client):
        key = uuid.uuid4().hex
        before = in_flight(redis_client, target.identity)
        for n in range(150):
            keyed = {"Idempotency-Key": key} if n % 2 else {}
            headers = [(k.encode(), v.encode()) for k, v in {**target.auth, **keyed}.items()]
            headers += SUPERSCRIPT_TWO
            response = client.post(target.path, json=target.body, headers=headers)
            assert_refused(response, 400)
            assert response.json()["field"] == "Prefer"
        assert in_flight(redis_client, target.identity) <= before
        assert not redis_client.exists(record_key(KeyScope(target.identity, target.command), key))
        if target.auth:
            assert balance(client, target.auth) == 100

        ran = client.post(
            target.path, json=target.body, headers={**target.auth, **WAIT, "Idempotency-Key": key}
        )
        assert ran.status_code == 200, ran.text
        assert "Idempotent-Replayed" not in ran.headers
        if target.auth:
            assert ran.json() == {"balance": 101}


# -- 2. Open waits and event streams ----------------------------------------------------------


@pytest.fixture(scope="module")
def waits_gateway(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A gateway on the stack's stores with the default open-wait cap, a long recheck and a
    broker nobody consumes; its base URL."""
    env = {
        **stack.env,
        "BROKER_URL": "memory://",
        "HOOKLINE_MAX_OPEN_WAITS_PER_CALLER": str(OPEN_WAITS),
        "HOOKLINE_WAIT_RECHECK_S": str(LONG_RECHECK_S),
    }
    with gateway_alone(env, tmp_path_factory.mktemp("waits") / "gateway.log") as gateway:
        yield gateway.base_url


@pytest.fixture
def broker(stack: RunningStack) -> Iterator[Celery]:
    app = make_celery(Settings(BROKER_URL=stack.env["BROKER_URL"]))
    yield app
    app.close()


async def opened(
    streams: contextlib.AsyncExitStack, client: httpx.AsyncClient, url: str, auth: dict[str, str]
) -> AsyncIterator[str] | None:
    """A stream held open in ``streams``, once its first event came: its remaining lines;
    None when it was refused (the response is closed)."""
    response = await streams.enter_async_context(client.stream("GET", url, headers=auth))
    if response.status_code != 200:
        await response.aclose()
        return None
    lines = response.aiter_lines()
    async for line in lines:
        if not line:  # the end of the first event
            break
    return lines


async def reopened(
    streams: contextlib.AsyncExitStack, client: httpx.AsyncClient, url: str, auth: dict[str, str]
) -> AsyncIterator[str]:
    """A stream opened once the gateway has seen a closed one go (it learns it a moment
    after the client closed it)."""
    for _ in range(50):
        lines = await opened(streams, client, url, auth)
        if lines is not None:
            return lines
        await asyncio.sleep(0.1)
    raise AssertionError("a closed stream's open wait was never given back")


async def event_names(lines: AsyncIterator[str]) -> list[str]:
    """The names of the events left on a stream, until the gateway ends it."""
    return [line.removeprefix("event: ") async for line in lines if line.startswith("event: ")]


def assert_too_many_waits(response: httpx.Response) -> None:
    assert_refused(response, 429)
    assert response.json()["type"].endswith("/too-many-waits")
    assert int(response.headers["Retry-After"]) > 0


async def pending_deposit(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    """A deposit accepted on the waits gateway, which no worker gets; its command id."""
    accepted = await client.post("/wallet/deposit", json={"amount": 5}, headers=auth)
    assert accepted.status_code == 202, accepted.text
    command_id: str = accepted.json()["command_id"]
    return command_id


def test_open_waits_are_capped_per_caller_and_freed_when_they_end(
    waits_gateway: str,
    client: httpx.Client,
    redis_client: redis.Redis,
    store: Database[Doc],
    broker: Celery,
) -> None:
    """With the cap's worth of streams open on a pending deposit, one more stream, or a
    deposit asking to wait, is a 429 with Retry-After that claims and reserves nothing;
    another user is not affected; a closed stream frees its slot; once the deposit runs,
    every stream gets ``done`` through pub/sub (the gateway's recheck is a minute away)."""
    user_id, auth = signed_up(client)
    _, other = signed_up(client)
    identity = f"user:{user_id}"

    async def scenario() -> list[list[str]]:
        async with (
            httpx.AsyncClient(base_url=waits_gateway, timeout=LONG_RECHECK_S) as gateway,
            contextlib.AsyncExitStack() as streams,
        ):
            command_id = await pending_deposit(gateway, auth)
            url = f"/commands/{command_id}/stream"
            before = in_flight(redis_client, identity)
            held = [await opened(streams, gateway, url, auth) for _ in range(OPEN_WAITS - 1)]
            async with contextlib.AsyncExitStack() as last:
                # Each stream is held by its lines: were they dropped, the stream would close.
                mine = await opened(last, gateway, url, auth)
                assert mine is not None
                assert_too_many_waits(await gateway.get(url, headers=auth))
                key = uuid.uuid4().hex
                headers = {**auth, **WAIT, "Idempotency-Key": key}
                waiting = await gateway.post("/wallet/deposit", json={"amount": 7}, headers=headers)
                assert_too_many_waits(waiting)
                assert not redis_client.exists(
                    record_key(KeyScope(identity, "wallet.deposit"), key)
                )
                assert in_flight(redis_client, identity) == before
                their_url = f"/commands/{await pending_deposit(gateway, other)}/stream"
                theirs = await opened(last, gateway, their_url, other)
                assert theirs is not None
            held.append(await reopened(streams, gateway, url, auth))

            actor = Actor(user_id=user_id, roles=("user",))
            deposit = Command(
                id=command_id, name="wallet.deposit", payload={"amount": 5}, actor=actor
            )
            deliver_command(broker, deposit)
            async with asyncio.timeout(LONG_RECHECK_S / 2):
                return list(await asyncio.gather(*(event_names(lines) for lines in held if lines)))

    ends = asyncio.run(scenario())
    assert len(ends) == OPEN_WAITS
    assert all(names[-1] == "done" and "status" in names for names in ends), ends
    assert balance(client, auth) == 105
    assert ledger_count(store, user_id) == 2


# -- 3. Command ids of another shape ----------------------------------------------------------


def test_malformed_command_ids_are_404_on_every_command_route(client: httpx.Client) -> None:
    """Ids naming another key of a real command (``<id>:hooks``, ``<id>:pending``), ``x:hooks``,
    dot segments, 300 characters, Unicode, upper case: 404 on the document and the stream,
    for the owner and for an anonymous caller; never a 500."""
    _, auth = signed_up(client)
    done = client.post("/wallet/deposit", json={"amount": 1}, headers={**auth, **WAIT})
    command_id = done.headers["Location"].rsplit("/", 1)[1]
    with client.stream("GET", f"/commands/{command_id}/stream", headers=auth) as stream:
        stream.read()  # it ends once the hooks ran: the trace list and pending set exist
    ids = [
        f"{command_id}:hooks",
        f"{command_id}:pending",
        f"{command_id}:secret",
        "x:hooks",
        "%2E%2E",
        "..%2F..%2Fhealth",
        "a" * 300,
        "é" * 32,
        "命令",
        command_id.upper(),
        command_id + "0",
    ]
    for bad in ids:
        for route in (f"/commands/{bad}", f"/commands/{bad}/stream"):
            for headers in (auth, {}):
                response = client.get(route, headers=headers)
                assert_refused(response, 404)
    assert client.get(f"/commands/{command_id}", headers=auth).status_code == 200


# -- 4. A JSON name given twice ---------------------------------------------------------------


def test_a_json_name_given_twice_is_400_and_deposits_nothing(
    client: httpx.Client, redis_client: redis.Redis, store: Database[Doc]
) -> None:
    """``{"amount": 1, "amount": 999999}`` is a 400 naming amount: no command, no deposit."""
    user_id, auth = signed_up(client)
    body = '{"amount": 1, "amount": 999999}'
    response = client.post("/wallet/deposit", content=body, headers={**auth, **JSON, **WAIT})
    assert_refused(response, 400)
    assert response.json()["field"] == "amount"
    assert in_flight(redis_client, f"user:{user_id}") == set()
    assert ledger_count(store, user_id) == 1
    assert balance(client, auth) == 100


def test_a_query_parameter_given_twice_is_400(
    client: httpx.Client, admin: dict[str, str], redis_client: redis.Redis
) -> None:
    """``?limit=1&limit=1000`` is a 400 naming limit, not the last value silently kept, on
    module queries and on the dead-letter list alike; nothing is submitted."""
    user_id, auth = signed_up(client)
    for path, headers in (("/transactions", auth), ("/admin/dead-letters", admin)):
        response = client.get(f"{path}?limit=1&limit=1000", headers={**headers, **WAIT})
        assert_refused(response, 400)
        assert response.json()["field"] == "limit"
    assert in_flight(redis_client, f"user:{user_id}") == set()
