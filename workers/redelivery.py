"""Sending again what the broker lost (see ``core.redelivery`` for how a loss is told), and
waking serial lines whose next command was not woken (``core.serial``).

Every worker process runs a sweeper thread; a Redis lock lets one sweep per
interval across all of them.
"""

from __future__ import annotations

import logging
import os

import redis

from core import keys
from core.redelivery import MessageLedger
from core.sender import Sender
from core.serial import SerialLines
from core.settings import Settings

log = logging.getLogger(__name__)

SWEEP_BATCH = 200


class Redeliverer:
    def __init__(
        self,
        ledger: MessageLedger,
        client: redis.Redis,
        sender: Sender,
        settings: Settings,
        lines: SerialLines | None = None,
    ) -> None:
        self._ledger = ledger
        self._lines = lines
        self._redis = client
        self._sender = sender
        self._grace_s = settings.redelivery_grace_s
        self._interval_s = settings.redelivery_sweep_s

    def sweep(self, queues: tuple[str, ...]) -> int:
        """Send again every lost message of ``queues``, and wake stalled serial lines, if no
        other process swept just now; how many messages were sent."""
        lock_ms = max(1, int(self._interval_s * 1000))
        if not self._redis.set(keys.REDELIVERY_LOCK, os.getpid(), nx=True, px=lock_ms):
            return 0
        woken = self._lines.sweep(SWEEP_BATCH) if self._lines is not None else 0
        return woken + self._resend_lost(queues)

    def _resend_lost(self, queues: tuple[str, ...]) -> int:
        sent = 0
        for queue in queues:
            for message in self._ledger.overdue(queue, self._grace_s, SWEEP_BATCH):
                log.warning(
                    "message %s (%s) on %s was lost by the broker; sending it again",
                    message.task_id,
                    message.task,
                    queue,
                    extra={"task_id": message.task_id},
                )
                self._sender.send([message], note=False)  # noted already
                self._ledger.resent(message)
                sent += 1
        return sent
