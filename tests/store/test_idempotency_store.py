"""Idempotency-Key records in Redis: claims, takeovers and releases, each one atomic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar, cast

import pytest
import redis
import redis.asyncio

from api_gateway.idempotency import (
    ABANDONED_AFTER_S,
    Claim,
    EarlierClaim,
    IdempotencyStore,
    KeyScope,
    record_key,
)
from events import InvalidInput
from tests.stack_fixtures import Servers

T = TypeVar("T")
Body = Callable[[IdempotencyStore], Awaitable[T]]
Run = Callable[[Body[T]], T]
TTL_S = 600


@pytest.fixture
def sync_client(servers: Servers) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(servers.redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def with_store(servers: Servers) -> Callable[[Body[T]], T]:
    """Runs a coroutine against a store on the test Redis, in an event loop of its own."""

    def run(body: Body[T]) -> T:
        async def main() -> T:
            client = redis.asyncio.Redis.from_url(servers.redis_url, decode_responses=True)
            try:
                return await body(IdempotencyStore(client, TTL_S))
            finally:
                await client.aclose()

        return asyncio.run(main())

    return run


@pytest.fixture
def scope() -> KeyScope:
    return KeyScope(f"user:{uuid.uuid4().hex}", "wallet.deposit")


def claim_for(fingerprint: str = "f1") -> Claim:
    return Claim(command_id=uuid.uuid4().hex, fingerprint=fingerprint)


def test_the_first_claim_wins_and_later_ones_get_it(
    with_store: Run[EarlierClaim | None], scope: KeyScope
) -> None:
    """The first claim is None (the key was free); the next one is the first, aged 0 s."""
    first, second = claim_for(), claim_for()

    async def body(store: IdempotencyStore) -> EarlierClaim | None:
        assert await store.claim(scope, "k", first) is None
        return await store.claim(scope, "k", second)

    earlier = with_store(body)
    assert earlier is not None and earlier.claim == first
    assert 0 <= earlier.age_s <= 1 and not earlier.abandoned


def test_another_fingerprint_is_invalid_input(with_store: Run[None], scope: KeyScope) -> None:
    async def body(store: IdempotencyStore) -> None:
        await store.claim(scope, "k", claim_for("f1"))
        with pytest.raises(InvalidInput) as refused:
            await store.claim(scope, "k", claim_for("f2"))
        assert refused.value.extensions["field"] == "Idempotency-Key"

    with_store(body)


def test_scopes_and_keys_are_apart(with_store: Run[list[object]], scope: KeyScope) -> None:
    """Another caller, another command name or another key: each a free key."""
    others = [
        (KeyScope("user:someone-else", scope.command), "k"),
        (KeyScope(scope.caller, "wallet.withdraw"), "k"),
        (scope, "k2"),
    ]

    async def body(store: IdempotencyStore) -> list[object]:
        await store.claim(scope, "k", claim_for())
        return [await store.claim(s, k, claim_for()) for s, k in others]

    assert with_store(body) == [None, None, None]


def test_the_ttl_runs_from_the_first_use(
    with_store: Run[None], sync_client: redis.Redis, scope: KeyScope
) -> None:
    """A repeated claim neither resets the record nor extends its TTL."""
    record = record_key(scope, "k")

    async def body(store: IdempotencyStore) -> None:
        await store.claim(scope, "k", claim_for())
        sync_client.expire(record, 100)  # as if 500 s had passed
        await store.claim(scope, "k", claim_for())

    with_store(body)
    assert 0 < cast(int, sync_client.ttl(record)) <= 100


def test_a_release_frees_only_the_claim_it_made(
    with_store: Run[EarlierClaim | None], sync_client: redis.Redis, scope: KeyScope
) -> None:
    """A's late release after B took the key over leaves B's claim; B's own release frees it."""
    a, b = claim_for(), claim_for()
    record = record_key(scope, "k")

    async def body(store: IdempotencyStore) -> EarlierClaim | None:
        await store.claim(scope, "k", a)
        earlier = await store.claim(scope, "k", b)
        assert earlier is not None and await store.take_over(scope, "k", earlier, b)
        await store.release(scope, "k", a.command_id)
        assert sync_client.hget(record, "command_id") == b.command_id
        await store.release(scope, "k", b.command_id)
        return await store.claim(scope, "k", a)

    assert with_store(body) is None


def test_a_take_over_loses_to_a_claim_made_since(
    with_store: Run[tuple[bool, bool]], scope: KeyScope
) -> None:
    """Taking over works on the abandoned claim or a freed key, not on a third's new claim."""
    abandoned, mine, third = claim_for(), claim_for(), claim_for()

    async def body(store: IdempotencyStore) -> tuple[bool, bool]:
        await store.claim(scope, "k", abandoned)
        earlier = EarlierClaim(abandoned, ABANDONED_AFTER_S)
        await store.release(scope, "k", abandoned.command_id)
        freed = await store.take_over(scope, "k", earlier, mine)
        await store.release(scope, "k", mine.command_id)
        await store.claim(scope, "k", third)
        return freed, await store.take_over(scope, "k", earlier, mine)

    assert with_store(body) == (True, False)


def test_the_age_of_a_claim_is_on_redis_clock(
    with_store: Run[EarlierClaim | None], sync_client: redis.Redis, scope: KeyScope
) -> None:
    """A claim made ABANDONED_AFTER_S ago (by any gateway's clock) is abandoned."""
    first = claim_for()

    async def body(store: IdempotencyStore) -> EarlierClaim | None:
        await store.claim(scope, "k", first)
        now = int(cast(tuple[int, int], sync_client.time())[0])
        sync_client.hset(record_key(scope, "k"), "claimed_at", str(now - ABANDONED_AFTER_S))
        return await store.claim(scope, "k", claim_for())

    earlier = with_store(body)
    assert earlier is not None and earlier.age_s >= ABANDONED_AFTER_S and earlier.abandoned
