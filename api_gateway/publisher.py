"""Publishing commands on the broker without blocking the event loop."""

from __future__ import annotations

import logging

import anyio.to_thread
from celery import Celery
from kombu.exceptions import OperationalError

from api_gateway.errors import ServiceUnavailable
from events import Command

log = logging.getLogger(__name__)

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

    def _send(self, command: Command) -> None:
        self._celery.send_task(
            command.name,
            args=[command.model_dump(mode="json")],
            queue=command.module,
            task_id=command.id,
            retry=True,
            retry_policy=PUBLISH_RETRY_POLICY,
        )
