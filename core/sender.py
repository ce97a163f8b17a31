"""The one way a message leaves a Hookline process: noted in the ledger, then published.

Commands from the gateway, events, hook retries, command retries, replays of dead
letters and resends of lost messages all go through ``Sender.send``. Each message
is noted in the message ledger first, so one the broker loses is sent again
(``core.redelivery``; a resend itself is not noted again), then the group is
published in one broker trip (kombu's ``Producer.batch``: one pipeline on
Redis), within a bounded retry, so a broker that does not answer becomes an error
in seconds rather than a hang. A group that may have partly reached the broker
is sent whole again: every task is idempotent by its id.

Noting before publishing means a message may be noted that never reached the
broker; sent again later, it finds its command refused or finished and does
nothing (commands are fenced, see ``core.command_state``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from celery import Celery
from kombu.exceptions import BatchPublishError

from core import tracing
from core.celery_app import PUBLISH_TRIES
from core.redelivery import MessageLedger, SentMessage
from core.task_display import summary

# Bounded so a dead broker turns into a quick error rather than a hung request.
PUBLISH_RETRY_POLICY = {
    "max_retries": PUBLISH_TRIES - 1,
    "interval_start": 0.1,
    "interval_step": 0.2,
    "interval_max": 0.5,
}


class Sender:
    def __init__(
        self, celery: Celery, ledger: MessageLedger | None, timeout_s: float | None = None
    ) -> None:
        """``timeout_s``: how long RabbitMQ's confirm of a publish may take (on Redis the
        broker connection's socket timeout does the same, see ``core.celery_app``)."""
        self._celery = celery
        self._ledger = ledger
        self._timeout_s = timeout_s

    def send(self, messages: Sequence[SentMessage], *, note: bool = True) -> None:
        """Note ``messages`` (unless ``note`` is false: a resend), then publish them."""
        if not messages:
            return
        if note and self._ledger is not None:
            self._ledger.record_all(messages)
        with self._celery.producer_or_acquire() as producer:
            connection = producer.connection
            # Connect within the bounded policy here, or the first use would wait for
            # kombu's default connection retries.
            connection.ensure_connection(**PUBLISH_RETRY_POLICY)
            publish_all = connection.ensure(
                producer,
                self._publish_group,
                retry_errors=(BatchPublishError,),
                **PUBLISH_RETRY_POLICY,
            )
            publish_all(producer, messages)

    def forget(self, messages: Sequence[SentMessage]) -> None:
        """Drop the ledger notes of messages that were not published after all."""
        if self._ledger is not None:
            self._ledger.forget(messages)

    def _publish_group(self, producer: Any, messages: Sequence[SentMessage]) -> None:
        with producer.batch():
            for message in messages:
                with tracing.within(message.traceparent):
                    self._send_one(producer, message)

    def _send_one(self, producer: Any, message: SentMessage) -> None:
        self._celery.send_task(
            message.task,
            args=message.args,
            kwargs=message.keywords,
            queue=message.queue,
            task_id=message.task_id,
            countdown=max(0.0, message.due - time.time()) or None,
            # Built here once, cheaply: Celery would saferepr the whole envelope.
            argsrepr=summary(message.args),
            confirm_timeout=self._timeout_s,
            producer=producer,
            retry=False,  # the whole group is retried around this
        )
