"""Idempotency-Key across gateway processes that share the stores.

A second gateway, with the real broker (the session's worker runs its commands)
and keys that expire after a few seconds, races the session's gateway on one
key; a third, whose broker does not answer, refuses what it claimed. Claims
left behind by a gateway that died or could not release them are planted the
way such a gateway leaves them.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import Popen
from typing import cast

import httpx
import pytest
import redis
from pymongo.database import Database

from api_gateway.bodies import validate
from api_gateway.idempotency import ABANDONED_AFTER_S, KeyScope, fingerprint, record_key
from core.command_state import CommandStateStore
from core.sealing import KeyRing
from events import Actor, Command
from hookline.processes import spawn, terminate
from hookline.stack import gateway_command
from modules.wallet.models import AmountRequest
from tests.conftest import STACK_START_TIMEOUT_S, RunningStack, await_healthy
from tests.e2e.helpers import signed_up
from tests.e2e.test_redelivery import wait_until
from tests.security.conftest import Doc, assert_refused, ledger_count
from tests.security.test_idempotency import (
    COMMAND_TTL_S,
    assert_in_use,
    command_id_of,
    deposit,
    replayed,
)
from tests.stack_fixtures import free_port

pytestmark = pytest.mark.e2e
SHORT_TTL_S = 5
ROUNDS = 12
# Each round: (gateway, waits?) for every request sent at once with the round's key.
RACERS = ((0, True), (1, False), (0, False), (1, True))


@contextlib.contextmanager
def gateway_process(
    env: dict[str, str], log_path: Path, ready: Callable[[str, Popen[bytes], Path], None]
) -> Iterator[str]:
    """A gateway process with ``env``, once ``ready`` says so; stopped on exit."""
    port = free_port()
    with log_path.open("wb") as log:
        gateway = spawn(gateway_command(port), env, output=log)
        try:
            base_url = f"http://127.0.0.1:{port}"
            ready(base_url, gateway, log_path)
            yield base_url
        finally:
            terminate(gateway)


@pytest.fixture(scope="module")
def second_gateway(stack: RunningStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another gateway process on the same Redis, MongoDB and broker; keys last SHORT_TTL_S."""
    env = {**stack.env, "HOOKLINE_IDEMPOTENCY_TTL_S": str(SHORT_TTL_S)}
    log_path = tmp_path_factory.mktemp("second-gateway") / "gateway.log"
    with gateway_process(env, log_path, healthy) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def refusing_gateway(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A gateway on the same stores whose broker nothing listens on: it answers 503."""
    env = {**stack.env, "BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    log_path = tmp_path_factory.mktemp("refusing-gateway") / "gateway.log"
    with gateway_process(env, log_path, broker_down) as base_url:
        yield base_url


def healthy(base_url: str, gateway: Popen[bytes], log_path: Path) -> None:
    await_healthy(base_url, [gateway], [log_path])


def broker_down(base_url: str, gateway: Popen[bytes], log_path: Path) -> None:
    """Until /health answers that the broker is down."""

    def answers() -> bool:
        assert gateway.poll() is None, "the refusing gateway exited"
        try:
            return httpx.get(f"{base_url}/health", timeout=1).status_code == 503
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, STACK_START_TIMEOUT_S)
    except AssertionError:
        pytest.fail(f"the refusing gateway did not start:\n{log_path.read_text()[-3000:]}")


def deposit_scope(user_id: str) -> KeyScope:
    return KeyScope(f"user:{user_id}", "wallet.deposit")


async def race(
    clients: list[httpx.AsyncClient], auth: dict[str, str], key: str, amount: int
) -> list[httpx.Response]:
    """The same keyed deposit sent to both gateways at once, some waiting, some not."""
    requests = []
    for index, waits in RACERS:
        headers = {**auth, "Idempotency-Key": key, **({"Prefer": "wait=10"} if waits else {})}
        requests.append(
            clients[index].post("/wallet/deposit", json={"amount": amount}, headers=headers)
        )
    return list(await asyncio.gather(*requests))


async def race_rounds(base_urls: list[str], auth: dict[str, str]) -> list[list[httpx.Response]]:
    async with (
        httpx.AsyncClient(base_url=base_urls[0], timeout=40) as first,
        httpx.AsyncClient(base_url=base_urls[1], timeout=40) as second,
    ):
        clients = [first, second]
        # Open two connections to each gateway first, so no racer waits for a handshake.
        await asyncio.gather(*(c.get("/health") for c in clients + clients))
        return [
            await race(clients, auth, uuid.uuid4().hex, amount) for amount in range(1, ROUNDS + 1)
        ]


def the_one_command(responses: list[httpx.Response]) -> str:
    """The round's command: one first answer (200 or 202), the rest 409 or replays of it."""
    locations = {r.headers["Location"] for r in responses}
    assert len(locations) == 1, [(r.status_code, r.text) for r in responses]
    first = [r for r in responses if r.status_code in (200, 202) and not replayed(r)]
    assert len(first) == 1, [(r.status_code, r.headers, r.text) for r in responses]
    for response in responses:
        if response is not first[0] and not replayed(response):
            assert_in_use(response, first[0].headers["Location"])
    return command_id_of(first[0])


def test_two_gateways_racing_on_one_key_run_one_command(
    client: httpx.Client, second_gateway: str, stack: RunningStack, store: Database[Doc]
) -> None:
    """Round after round, four requests with one key at two gateways at once: one command ran,
    the others got 409 or its replay, and the ledger has one entry per round."""
    user_id, auth = signed_up(client)
    rounds = asyncio.run(race_rounds([stack.base_url, second_gateway], auth))
    command_ids = [the_one_command(responses) for responses in rounds]
    assert len(set(command_ids)) == ROUNDS

    def all_done() -> bool:
        return all(
            client.get(f"/commands/{c}", headers=auth).json()["status"] == "succeeded"
            for c in command_ids
        )

    wait_until(all_done)
    assert store["wallet_ledger"].count_documents({"_id": {"$in": command_ids}}) == ROUNDS
    assert ledger_count(store, user_id) == ROUNDS + 1
    answers = [r for responses in rounds for r in responses]
    assert all(set(r.json()) == {"balance"} for r in answers if r.status_code == 200)
    # Both kinds of duplicate came up: 409s (no wait, first still in flight) and replays.
    assert any(r.status_code == 409 for r in answers)
    assert any(replayed(r) for r in answers)


def test_a_key_expires_after_its_ttl_and_then_starts_a_new_command(
    client: httpx.Client, second_gateway: str, redis_client: redis.Redis, store: Database[Doc]
) -> None:
    """With HOOKLINE_IDEMPOTENCY_TTL_S=5 the key is replayed, then gone 5 s after its first use;
    the same request then is a new command."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    record = record_key(deposit_scope(user_id), key)
    with httpx.Client(base_url=second_gateway, timeout=40) as gateway:
        first = deposit(gateway, auth, 4, key)
        assert first.status_code == 200
        assert 0 < cast(int, redis_client.pttl(record)) <= SHORT_TTL_S * 1000
        assert replayed(deposit(gateway, auth, 4, key))
        wait_until(lambda: not redis_client.exists(record), SHORT_TTL_S + 10)
        fresh = deposit(gateway, auth, 4, key)
    assert (fresh.status_code, fresh.json()) == (200, {"balance": 108})
    assert not replayed(fresh) and fresh.headers["Location"] != first.headers["Location"]
    assert ledger_count(store, user_id) == 3


def test_a_key_is_released_when_the_broker_refuses_its_command(
    client: httpx.Client, refusing_gateway: str, redis_client: redis.Redis, store: Database[Doc]
) -> None:
    """503 from a gateway whose broker is down leaves the key free: the same request at another
    gateway runs as a first request, once."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    with httpx.Client(base_url=refusing_gateway, timeout=40) as gateway:
        assert_refused(deposit(gateway, auth, 6, key, wait=False), 503)
    assert not redis_client.exists(record_key(deposit_scope(user_id), key))
    ran = deposit(client, auth, 6, key)
    assert (ran.status_code, ran.json()) == (200, {"balance": 106}) and not replayed(ran)
    assert ledger_count(store, user_id) == 2


def plant_claim(
    client: redis.Redis, record: str, command_id: str, fingerprint: str, age_s: int
) -> None:
    """A claim as a gateway makes it (``claimed_at`` on Redis's clock), ``age_s`` ago."""
    now = int(cast(tuple[int, int], client.time())[0])
    mapping = {"command_id": command_id, "fingerprint": fingerprint, "claimed_at": now - age_s}
    client.hset(record, mapping=mapping)
    client.expire(record, 3600)


def deposit_fingerprint(stack: RunningStack, amount: int) -> str:
    """What the gateways record for a deposit of ``amount`` (keyed with the stack's seal key)."""
    ring = KeyRing.parse((stack.data_dir / "secrets" / "bus_seal_key").read_text())
    payload = validate(AmountRequest, {"amount": amount})
    return fingerprint(ring, Command(name="wallet.deposit", payload=payload))


def test_a_claim_whose_command_never_came_is_taken_over_once_it_is_old(
    client: httpx.Client, stack: RunningStack, redis_client: redis.Redis, store: Database[Doc]
) -> None:
    """A claim naming a command not recorded: 409 while it may still come, and once older than
    ABANDONED_AFTER_S (its gateway died) the same request runs as a first request."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    record = record_key(deposit_scope(user_id), key)
    never = uuid.uuid4().hex
    plant_claim(redis_client, record, never, deposit_fingerprint(stack, 7), age_s=0)
    assert_in_use(deposit(client, auth, 7, key, wait=False), f"/commands/{never}")
    plant_claim(redis_client, record, never, deposit_fingerprint(stack, 7), ABANDONED_AFTER_S)
    ran = deposit(client, auth, 7, key)
    assert (ran.status_code, ran.json()) == (200, {"balance": 107}) and not replayed(ran)
    assert redis_client.hget(record, "command_id") == command_id_of(ran)
    assert replayed(deposit(client, auth, 7, key))
    assert ledger_count(store, user_id) == 2


def test_a_claim_left_on_a_refused_command_is_taken_over_at_once(
    client: httpx.Client, stack: RunningStack, redis_client: redis.Redis, store: Database[Doc]
) -> None:
    """A gateway answered 503 and could not release the key: the command is refused for good,
    so the same request runs at once."""
    user_id, auth = signed_up(client)
    key = uuid.uuid4().hex
    record = record_key(deposit_scope(user_id), key)
    actor = Actor(user_id=user_id, roles=("user",))
    refused = Command(name="wallet.deposit", payload={"amount": 8}, actor=actor)
    states = CommandStateStore(redis_client, COMMAND_TTL_S)
    states.record_publishing([refused])
    states.refuse([refused.id])
    plant_claim(redis_client, record, refused.id, deposit_fingerprint(stack, 8), age_s=0)
    ran = deposit(client, auth, 8, key)
    assert (ran.status_code, ran.json()) == (200, {"balance": 108}) and not replayed(ran)
    assert ledger_count(store, user_id) == 2
