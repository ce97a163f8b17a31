"""The gateway's command watcher against a real Redis that goes away and comes back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio

from api_gateway.commands import MAY_BE_DONE
from api_gateway.watcher import CommandWatcher
from core import keys
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
