"""The Celery application both sides build: the gateway to publish, workers to consume.

Settings make delivery at-least-once: a message is acknowledged only after its task
ran (late acks), a task whose process died goes back to the queue (reject on worker
lost) and so does one stopped at its hard time limit, a worker holds one message per
process (prefetch 1), JSON only. On SIGTERM (with ``REMAP_SIGTERM=SIGQUIT``, see
``hookline.stack``) a worker gives running tasks ``worker_soft_shutdown_s`` to
finish and returns the rest to the broker. RabbitMQ confirms every publish before it
returns. On the Redis broker a message that nobody acknowledged is redelivered after
the visibility timeout, so that timeout must outlast the longest a task can hold its
message: a retry's countdown plus the task time limit (checked here).

Task events cost a broker publish per task state, so they are off until someone
watches: Flower turns the workers' events on when it starts (and every few
seconds after), which is how it sees every task. ``HOOKLINE_TASK_EVENTS=true``
sends them from the start, "sent" events for queued commands included.
"""

from __future__ import annotations

from collections.abc import Iterable

from celery import Celery
from kombu.entity import Queue

from core.settings import Settings
from core.task_display import RedactingAMQP
from events import ConfigurationError

EVENTS_QUEUE = "events"
ADMIN_QUEUE = "admin"
# How many times a publish is tried (the first and core.sender's retries).
PUBLISH_TRIES = 3
# The task that runs one hook again, on its own, after it failed.
HOOK_TASK = "hookline.hook"


def event_task_name(event: str) -> str:
    """Event tasks are named after the event so Flower lists them by name."""
    return f"event.{event}"


def check_delivery_settings(settings: Settings) -> None:
    """Refuse settings under which the broker would redeliver a task that is still running."""
    held_s = settings.task_time_limit_s + settings.retry_backoff_max_s
    publish_s = PUBLISH_TRIES * (settings.broker_publish_timeout_s + 1)
    if settings.publish_fence_s <= publish_s:
        raise ConfigurationError(
            f"publish_fence_s ({settings.publish_fence_s:g}) must exceed the longest a "
            f"gateway takes to publish ({publish_s:g}: {PUBLISH_TRIES} tries of "
            "broker_publish_timeout_s and a second between): a worker would refuse commands "
            "their gateway is still about to confirm"
        )
    if settings.visibility_timeout_s <= held_s:
        raise ConfigurationError(
            f"visibility_timeout_s ({settings.visibility_timeout_s}) must exceed "
            f"task_time_limit_s + retry_backoff_max_s ({held_s:g}): a message is held that "
            "long at most, and one held longer is redelivered while its task still runs"
        )


def make_celery(settings: Settings, queues: Iterable[str] = ()) -> Celery:
    check_delivery_settings(settings)
    app = Celery("hookline", broker=settings.broker_url, set_as_current=False, amqp=RedactingAMQP)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure=True,
        # A task stopped at its hard time limit goes back to the broker, never lost: its
        # soft limit had already run the retry policy, so what hung is the failure path
        # itself (a store frozen mid-write), and the message is all that is left of it.
        task_acks_on_timeout=False,
        worker_prefetch_multiplier=1,
        worker_send_task_events=settings.task_events,
        task_send_sent_event=settings.task_events,
        task_track_started=True,
        task_time_limit=settings.task_time_limit_s,
        task_soft_time_limit=soft_time_limit_s(settings.task_time_limit_s),
        worker_soft_shutdown_timeout=settings.worker_soft_shutdown_s,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=settings.broker_publish_timeout_s,
        broker_transport_options={
            # Redis: redelivery of unacknowledged messages, and how often it is checked.
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": settings.broker_restore_interval_s,
            "unacked_restore_throttle": 1,
            # RabbitMQ: publisher confirms, so a publish returns once the broker has it.
            "confirm_publish": True,
            **_broker_timeouts(settings),
        },
        task_queues=[Queue(name) for name in sorted({*queues, EVENTS_QUEUE, ADMIN_QUEUE})],  # type: ignore[no-untyped-call]
        task_default_queue=EVENTS_QUEUE,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    return app


def _broker_timeouts(settings: Settings) -> dict[str, float]:
    """A broker that stops answering mid-publish is an error after this long, not a hang:
    socket timeouts on Redis, read and write timeouts on RabbitMQ (whose publisher confirm
    waits as long, see ``core.sender``). Consumers' own blocking reads are shorter."""
    timeout = settings.broker_publish_timeout_s
    if settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        return {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if settings.broker_url.startswith(("amqp://", "amqps://", "pyamqp://")):
        return {"read_timeout": timeout, "write_timeout": timeout}
    return {}


def soft_time_limit_s(time_limit_s: int) -> float:
    """The soft limit leaves the task a tenth of its time (at least 1 s, at most 10 s) to stop."""
    return time_limit_s - min(10.0, max(1.0, time_limit_s / 10))
