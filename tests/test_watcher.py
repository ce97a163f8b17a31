"""The gateway's command watcher against a real Redis that goes away and comes back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis
import redis.asyncio

from api_gateway.commands import MAY_BE_DONE
from api_gateway.watcher import CommandWatcher
from core import keys
from core.command_state import CommandStateStore
from events import HookRun, HookRunStatus
from hookline.stack import ensure_redis
from tests.stack_fixtures import free_port

# Redis-py's retries, then the watcher's reconnect delay: well within this.
RECONNECTED_WITHIN_S = 30


async def woken(*events: asyncio.Event) -> None:
    async with asyncio.timeout(RECONNECTED_WITHIN_S):
        await asyncio.gather(*(event.wait() for event in events))


def test_waiters_are_woken_whenever_the_watcher_subscribes_again(tmp_path: Path) -> None:
    """Every waiter, whatever it waits for, is woken when the subscription is made and again
    once Redis is back after an outage (messages published meanwhile were lost); after
    that, a change on a command's channel wakes its waiters as before."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    server = ensure_redis(url, tmp_path)

    async def scenario() -> None:
        nonlocal server
        client = redis.asyncio.Redis.from_url(url, decode_responses=True)
        watcher = CommandWatcher(client)
        async with watcher.watch("c1", MAY_BE_DONE) as outcome, watcher.watch("c2") as every:
            await watcher.start()
            await woken(outcome, every)  # subscribed
            outcome.clear()
            every.clear()
            server.stop()
            server = ensure_redis(url, tmp_path)
            await woken(outcome, every)  # subscribed again
            every.clear()
            publisher = redis.asyncio.Redis.from_url(url, decode_responses=True)
            await publisher.publish(keys.command_changes("c2"), "running")
            await woken(every)
            await publisher.aclose()
        await watcher.stop()
        await client.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_a_traced_hook_run_wakes_the_streams_of_its_command(tmp_path: Path) -> None:
    """Each hook run traced is published on its command's channel ('hook'), so a stream
    shows it as it happens; a wait for the outcome does not wake for it."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    server = ensure_redis(url, tmp_path)
    run = HookRun(
        event="thing_done",
        event_id="e1",
        module="audit",
        handler="record",
        priority=0,
        status=HookRunStatus.SUCCEEDED,
        attempts=1,
        duration_ms=1.0,
    )

    async def scenario() -> bool:
        client = redis.asyncio.Redis.from_url(url, decode_responses=True)
        watcher = CommandWatcher(client)
        async with watcher.watch("c1", MAY_BE_DONE) as outcome, watcher.watch("c1") as stream:
            await watcher.start()
            await woken(outcome, stream)  # subscribed
            outcome.clear()
            stream.clear()
            sync_client = redis.Redis.from_url(url)
            assert CommandStateStore(sync_client, ttl_s=60).record_hook_run("c1", run)
            sync_client.close()
            await woken(stream)
            woke_outcome = outcome.is_set()
        await watcher.stop()
        await client.aclose()
        return woke_outcome

    try:
        assert asyncio.run(scenario()) is False
    finally:
        server.stop()
