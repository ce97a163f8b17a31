"""Waking requests that wait for a command: one pattern subscription per gateway process.

Workers publish on a command's channel at every status change, when its hooks
settle, and at each hook run traced; this listener sets the matching waiters.
A message can only be lost while the subscription is down (Redis went away, or
dropped a subscriber that fell behind), so each time the subscription is (re)made
(Redis confirms it) every waiter is woken to re-read its command once. Waiters
also re-read on a long timer (``wait_recheck_s``), in case a message is lost
anyway: then it costs latency, never correctness.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Any

import redis.asyncio

from core import keys

log = logging.getLogger(__name__)

RECONNECT_DELAY_S = 0.5
LISTEN_POLL_S = 1.0


class Changes(asyncio.Event):
    """Set when the command changed; ``seen``: the changes named since the last ``clear``
    (a wake-up for everything, on a resubscription, names none)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def clear(self) -> None:
        super().clear()
        self.seen.clear()

    def named(self, change: str) -> None:
        self.seen.add(change)
        self.set()


@dataclass(eq=False)
class _Waiter:
    changed: Changes
    wake_on: frozenset[str] | None


class CommandWatcher:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client
        self._waiters: defaultdict[str, set[_Waiter]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="hookline-command-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @contextlib.asynccontextmanager
    async def watch(
        self, command_id: str, wake_on: Collection[str] | None = None
    ) -> AsyncIterator[Changes]:
        """An event set whenever ``command_id`` changes; register it before publishing.

        With ``wake_on``, only those changes (a status, or ``settled``) set it.
        """
        waiter = _Waiter(Changes(), None if wake_on is None else frozenset(wake_on))
        self._waiters[command_id].add(waiter)
        try:
            yield waiter.changed
        finally:
            self._waiters[command_id].discard(waiter)
            if not self._waiters[command_id]:
                del self._waiters[command_id]

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception:  # Redis went away: resubscribe once it is back
                log.warning("command watcher lost Redis; reconnecting", exc_info=True)
                await asyncio.sleep(RECONNECT_DELAY_S)

    async def _listen(self) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.psubscribe(keys.COMMAND_CHANGES_PATTERN)
            while True:
                # A bounded read: an idle channel is not a socket timeout (and a reconnect).
                message = await pubsub.get_message(timeout=LISTEN_POLL_S)
                if message is not None:
                    self.handle(message)

    def handle(self, message: dict[str, Any]) -> None:
        """A change wakes its command's waiters; a (re)subscription confirmed wakes them all,
        for whatever changed while nobody listened."""
        if message["type"] == "pmessage":
            self.notify(keys.command_id_from_channel(message["channel"]), message["data"])
        elif message["type"] == "psubscribe":
            self.wake_all()

    def wake_all(self) -> None:
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.changed.set()

    def notify(self, command_id: str, change: str) -> None:
        """Wake the waiters of ``command_id`` that care about ``change``."""
        for waiter in self._waiters.get(command_id, ()):
            if waiter.wake_on is None or change in waiter.wake_on:
                waiter.changed.named(change)
