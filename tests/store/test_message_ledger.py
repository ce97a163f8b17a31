"""The message ledger in Redis: notes, starts, and how a lost message is told."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis
import redis.asyncio

from core import keys
from core.redelivery import Backlog, MessageLedger, SentMessage, backlog
from tests.stack_fixtures import Servers


@pytest.fixture
def queue() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


def message(queue: str, n: int, due: float) -> SentMessage:
    return SentMessage(task_id=f"{queue}-m{n}", task="t", queue=queue, args=[n], due=due)


def test_a_message_overtaken_by_later_ones_is_overdue(client: redis.Redis, queue: str) -> None:
    """m0 never started while m2, due 10 s later, did: m0 is overdue; m1 (5 s) is not yet."""
    ledger = MessageLedger(client, ttl_s=60)
    now = time.time()
    for n in range(3):
        ledger.record_all([message(queue, n, now + 5 * n)])
    assert ledger.overdue(queue, grace_s=8, limit=10) == []  # nothing started yet
    ledger.started(f"{queue}-m2", queue)
    assert [m.task_id for m in ledger.overdue(queue, grace_s=8, limit=10)] == [f"{queue}-m0"]


def test_a_resent_message_goes_to_the_back(client: redis.Redis, queue: str) -> None:
    """After a resend the message is due now, so it is not overdue again at once."""
    ledger = MessageLedger(client, ttl_s=60)
    now = time.time()
    ledger.record_all([message(queue, 0, now - 100), message(queue, 1, now)])
    ledger.started(f"{queue}-m1", queue)
    [lost] = ledger.overdue(queue, grace_s=10, limit=10)
    ledger.resent(lost)
    assert ledger.overdue(queue, grace_s=10, limit=10) == []


def test_an_early_copy_of_a_resent_message_does_not_move_the_mark(
    client: redis.Redis, queue: str
) -> None:
    """The original of a resent message may still arrive (restored at the front of the
    queue): the messages due after it are not taken for lost because of that."""
    ledger = MessageLedger(client, ttl_s=60)
    now = time.time()
    ledger.record_all([message(queue, 0, now - 100)])
    ledger.record_all([message(queue, n, now - 90 + n) for n in range(1, 4)])
    ledger.record_all([message(queue, 9, now - 80)])
    # a backlog, waiting its turn
    ledger.record_all([message(queue, n, now - 20) for n in range(5, 8)])
    ledger.started(f"{queue}-m9", queue)  # m0..m3 look lost
    for lost in ledger.overdue(queue, grace_s=5, limit=1):
        ledger.resent(lost)  # m0 goes to the back
    ledger.started(f"{queue}-m0", queue)  # ... but its original copy arrives first
    assert [m.task_id for m in ledger.overdue(queue, grace_s=5, limit=10)] == [
        f"{queue}-m1",
        f"{queue}-m2",
        f"{queue}-m3",
    ]


def test_the_notes_of_messages_never_published_are_forgotten(
    client: redis.Redis, queue: str
) -> None:
    """A refused command's note is dropped, so no sweep sends it again."""
    ledger = MessageLedger(client, ttl_s=60)
    now = time.time()
    ledger.record_all([message(queue, 0, now - 100), message(queue, 1, now)])
    ledger.forget([message(queue, 0, now - 100)])
    ledger.started(f"{queue}-m1", queue)
    assert ledger.overdue(queue, grace_s=1, limit=10) == []
    assert client.get(keys.message(f"{queue}-m0")) is None


def test_a_queues_backlog_counts_due_unstarted_messages_and_the_oldest_wait(
    client: redis.Redis, servers: Servers, queue: str
) -> None:
    """What the console's overview shows per queue: a future message is not waiting yet."""
    ledger = MessageLedger(client, ttl_s=60)
    now = time.time()
    ledger.record_all([message(queue, 0, now - 30), message(queue, 1, now - 1)])
    ledger.record_all([message(queue, 2, now + 600)])  # scheduled: not due
    ledger.started(f"{queue}-m1", queue)

    found = asyncio.run(read_backlog(servers, queue))
    assert found.waiting == 1
    assert found.oldest_age_s is not None and 29 < found.oldest_age_s < 60
    empty = f"{queue}-empty"
    assert asyncio.run(read_backlog(servers, empty)) == Backlog(
        queue=empty, waiting=0, oldest_age_s=None
    )


async def read_backlog(servers: Servers, queue: str) -> Backlog:
    reader = redis.asyncio.Redis.from_url(servers.redis_url, decode_responses=True)
    try:
        return await backlog(reader, queue)
    finally:
        await reader.aclose()
