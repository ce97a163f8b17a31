"""Accepting commands: record each as accepted, then publish it, without blocking the loop.

Requests that arrive while a group is on its way to the broker wait for the
next one and go together: one trip to a worker thread, one Redis transaction
recording them all as accepted, and, on Redis, one pipeline publishing them
all (kombu's ``Producer.batch``). Under light load a group is one command, so
nothing waits longer than before; under heavy load the per-command cost of the
thread hop and the round trips shrinks. Every request still returns only once
the broker holds its command; if the broker cannot take a group, its commands
are forgotten again, so nothing is half-accepted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import anyio.to_thread
import redis
from celery import Celery
from kombu.exceptions import BatchPublishError, OperationalError

from api_gateway.errors import ServiceUnavailable
from core.celery_app import args_summary
from core.command_state import CommandStateStore
from events import Command

log = logging.getLogger(__name__)

BROKER_PROBE_TIMEOUT_S = 2.0
# Bounded so a dead broker turns into a quick 503 rather than a hung request.
PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0.1,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# At most this many commands in one broker trip; the rest go in the next.
MAX_GROUP = 256

_Pending = tuple[Command, "asyncio.Future[None]"]


class CommandPublisher:
    def __init__(self, celery: Celery, state: CommandStateStore) -> None:
        self._celery = celery
        self._state = state
        with celery.connection_for_write() as connection:
            self._unavailable = (
                OperationalError,
                BatchPublishError,
                OSError,
                redis.ConnectionError,
                redis.TimeoutError,
                *connection.connection_errors,
            )
        self._pending: list[_Pending] = []
        self._sender: asyncio.Task[None] | None = None

    async def publish(self, command: Command) -> None:
        """Record ``command`` as accepted and return once the broker holds it.

        ``ServiceUnavailable`` if the broker or the state store cannot take it; the
        command is then not recorded either.
        """
        published: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((command, published))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_pending(), name="hookline-publisher")
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
                    await anyio.to_thread.run_sync(self._send, [c for c, _ in group])
                except Exception as e:  # each request of the group turns this into its answer
                    _settle(group, e)
                else:
                    _settle(group, None)
        finally:
            self._sender = None

    async def ping(self, timeout_s: float) -> None:
        """Return once the broker accepts a connection; raise if it does not in time."""
        with anyio.fail_after(timeout_s):
            await anyio.to_thread.run_sync(self._connect, timeout_s, abandon_on_cancel=True)

    def _connect(self, timeout_s: float) -> None:
        with self._celery.connection_for_write() as connection:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=timeout_s
            )

    def _send(self, commands: list[Command]) -> None:
        self._state.accept_all(commands)
        try:
            self._publish(commands)
        except Exception:
            self._forget(commands)
            raise

    def _forget(self, commands: list[Command]) -> None:
        try:
            self._state.forget_all([c.id for c in commands])
        except redis.RedisError:  # the store is down too; the accepted records expire
            log.warning("could not forget %d unpublished commands", len(commands), exc_info=True)

    def _publish(self, commands: list[Command]) -> None:
        with self._celery.producer_or_acquire() as producer:
            connection = producer.connection
            # Connect within the bounded policy here, or the first use would wait for
            # kombu's default connection retries.
            connection.ensure_connection(**PUBLISH_RETRY_POLICY)
            # A failed group may have partly reached the broker ("uncertain"): send it all
            # again; a command id runs once however often it is delivered.
            publish_all = connection.ensure(
                producer,
                self._publish_group,
                retry_errors=(BatchPublishError,),
                **PUBLISH_RETRY_POLICY,
            )
            publish_all(producer, commands)

    def _publish_group(self, producer: Any, commands: list[Command]) -> None:
        with producer.batch():
            for command in commands:
                self._celery.send_task(
                    command.name,
                    args=[command.model_dump(mode="json")],
                    queue=command.module,
                    task_id=command.id,
                    argsrepr=args_summary("command", command.name, command.id, command.payload),
                    kwargsrepr="{}",
                    producer=producer,
                    retry=False,  # the whole group is retried around this
                )


def _settle(group: list[_Pending], error: Exception | None) -> None:
    for _, published in group:
        if published.done():  # the request went away meanwhile
            continue
        if error is None:
            published.set_result(None)
        else:
            published.set_exception(error)
