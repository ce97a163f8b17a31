"""Publishing commands on the broker without blocking the event loop."""

from __future__ import annotations

import logging

import anyio.to_thread
from celery import Celery
from kombu.exceptions import OperationalError

from api_gateway.errors import ServiceUnavailable
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


class CommandPublisher:
    def __init__(self, celery: Celery) -> None:
        self._celery = celery

    async def publish(self, command: Command) -> None:
        """Return once the broker holds the command; ``ServiceUnavailable`` if it cannot."""
        try:
            await anyio.to_thread.run_sync(self._send, command)
        except (OperationalError, OSError) as e:
            log.warning("broker unavailable: %s", e, extra={"command_id": command.id})
            raise ServiceUnavailable("the message broker is unavailable; try again shortly") from e

    async def ping(self, timeout_s: float) -> None:
        """Return once the broker accepts a connection; raise if it does not in time."""
        with anyio.fail_after(timeout_s):
            await anyio.to_thread.run_sync(self._connect, timeout_s, abandon_on_cancel=True)

    def _connect(self, timeout_s: float) -> None:
        with self._celery.connection_for_write() as connection:
            connection.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=timeout_s
            )

    def _send(self, command: Command) -> None:
        self._celery.send_task(
            command.name,
            args=[command.model_dump(mode="json")],
            queue=command.module,
            task_id=command.id,
            retry=True,
            retry_policy=PUBLISH_RETRY_POLICY,
        )
