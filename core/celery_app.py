"""The Celery application both sides build: the gateway to publish, workers to consume.

Settings make delivery at-least-once: late acks, reject on worker loss,
prefetch 1, JSON only.

Task events cost a broker publish per task state, so they are off until someone
watches: Flower turns the workers' events on when it starts (and every few
seconds after), which is how it sees every task. ``HOOKLINE_TASK_EVENTS=true``
sends them from the start, "sent" events for queued commands included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from celery import Celery
from kombu.entity import Queue

from core.settings import Settings
from core.task_display import RedactingAMQP, display_args
from events import ConfigurationError

EVENTS_QUEUE = "events"


def event_task_name(event: str) -> str:
    """Event tasks are named after the event so Flower lists them by name."""
    return f"event.{event}"


def args_summary(kind: str, name: str, envelope_id: str, payload: Mapping[str, Any]) -> str:
    """What monitors show as a task's arguments: the envelope and its payload, secrets masked.

    Passed as ``argsrepr`` so Celery does not ``saferepr`` the whole envelope on every
    publish (a large share of a publish's CPU); the payload is small and redacted.
    """
    return display_args([{"payload": dict(payload), kind: name, "id": envelope_id}])


def make_celery(settings: Settings, queues: Iterable[str] = ()) -> Celery:
    if settings.visibility_timeout_s <= settings.task_time_limit_s:
        raise ConfigurationError(
            f"visibility_timeout_s ({settings.visibility_timeout_s}) must exceed "
            f"task_time_limit_s ({settings.task_time_limit_s}), or running tasks are redelivered"
        )
    app = Celery("hookline", broker=settings.broker_url, set_as_current=False, amqp=RedactingAMQP)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_send_task_events=settings.task_events,
        task_send_sent_event=settings.task_events,
        task_track_started=True,
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=max(1, settings.task_time_limit_s - 10),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            "confirm_publish": True,
        },
        task_queues=[Queue(name) for name in sorted({*queues, EVENTS_QUEUE})],  # type: ignore[no-untyped-call]
        task_default_queue=EVENTS_QUEUE,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    return app
