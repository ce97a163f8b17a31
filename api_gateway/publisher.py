"""Accepting commands: record, publish, confirm, without blocking the event loop.

Requests that arrive while a group is on its way to the broker wait for the next
one and go together: one trip to a worker thread, one Redis transaction
recording them all as ``publishing``, one broker trip through the process's
sender (``core.sender``: noted in the message ledger, then published), and one
Redis round trip confirming them (``publishing → accepted``). A request is
answered ``202`` only once its command is confirmed. Under light load a group is
one command; under heavy load the per-command cost of the thread hop and the
round trips shrinks.

When the broker or Redis cannot take a group, its commands are refused
(``publishing → refused``) and answered ``503``, and such a command never runs,
even if the broker did store it before failing to answer: a worker that takes it
finds it refused, or still unconfirmed past ``publish_fence_s``, and refuses it
itself (the fence, ``core.command_state``). Nothing is half-accepted.
"""

from __future__ import annotations

import asyncio
import logging

import anyio.to_thread
import redis
from celery import Celery
from kombu.exceptions import BatchPublishError, OperationalError

from api_gateway.errors import ServiceUnavailable
from core.command_state import CommandStateStore
from core.failpoints import failpoint
from core.redelivery import SentMessage, command_message
from core.sender import Sender
from events import Command

log = logging.getLogger(__name__)

BROKER_PROBE_TIMEOUT_S = 2.0
# At most this many commands in one broker trip; the rest go in the next.
MAX_GROUP = 256

_Pending = tuple[Command, "asyncio.Future[None]"]


class NotConfirmed(Exception):
    """The broker took the command but its record could not be confirmed: it is refused."""


class CommandPublisher:
    def __init__(self, celery: Celery, state: CommandStateStore, sender: Sender) -> None:
        self._celery = celery
        self._state = state
        self._sender = sender
        with celery.connection_for_write() as connection:
            self._unavailable = (
                OperationalError,
                BatchPublishError,
                OSError,
                redis.ConnectionError,
                redis.TimeoutError,
                NotConfirmed,
                *connection.connection_errors,
            )
        self._pending: list[_Pending] = []
        self._sender_task: asyncio.Task[None] | None = None

    async def publish(self, command: Command) -> None:
        """Return once the broker holds ``command`` and its record says so.

        ``ServiceUnavailable`` if the broker or the state store cannot take it; the
        command is then refused and never runs.
        """
        published: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((command, published))
        if self._sender_task is None:
            self._sender_task = asyncio.create_task(self._send_pending(), name="hookline-publisher")
        try:
            await published
        except self._unavailable as e:
            log.warning("broker unavailable: %s", e, extra={"command_id": command.id})
            raise ServiceUnavailable("the message broker is unavailable; try again shortly") from e

    async def _send_pending(self) -> None:
        """Publish what is pending, group by group, until nothing is left."""
        try:
            while self._pending:
                group, self._pending = self._pending[:MAX_GROUP], self._pending[MAX_GROUP:]
                try:
                    confirmed = await anyio.to_thread.run_sync(self._send, [c for c, _ in group])
                except Exception as e:  # each request of the group turns this into its answer
                    _settle(group, [e] * len(group))
                else:
                    _settle(group, [None if ok else NotConfirmed() for ok in confirmed])
        finally:
            self._sender_task = None

    async def ping(self, timeout_s: float) -> None:
        """Return once the broker accepts a connection; raise if it does not in time."""
        with anyio.fail_after(timeout_s):
            await anyio.to_thread.run_sync(self._connect, timeout_s, abandon_on_cancel=True)

    def _connect(self, timeout_s: float) -> None:
        with self._celery.connection_for_write() as connection:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=timeout_s
            )

    def _send(self, commands: list[Command]) -> list[bool]:
        """Record, publish, confirm; which commands were confirmed (and may run)."""
        messages = [command_message(command) for command in commands]
        self._state.record_publishing(commands)
        try:
            self._sender.send(messages)
        except Exception:
            self._refuse(commands, messages)
            raise
        try:
            failpoint("gateway.after_publish")
            return self._state.confirm([command.id for command in commands])
        except Exception as e:  # published, not confirmed: the workers' fence refuses them
            raise NotConfirmed(f"{len(commands)} published commands not confirmed: {e}") from e

    def _refuse(self, commands: list[Command], messages: list[SentMessage]) -> None:
        """Best effort: a store that is down too leaves them to the workers' fence."""
        try:
            self._state.refuse([command.id for command in commands])
            self._sender.forget(messages)
        except redis.RedisError:
            log.warning("could not refuse %d unpublished commands", len(commands), exc_info=True)


def _settle(group: list[_Pending], errors: list[Exception | None]) -> None:
    for (_, published), error in zip(group, errors, strict=True):
        if published.done():  # the request went away meanwhile
            continue
        if error is None:
            published.set_result(None)
        else:
            published.set_exception(error)
