"""Publishing events on the broker, one Celery task per event name."""

from __future__ import annotations

from collections.abc import Iterable

from celery import Celery

from core.celery_app import EVENTS_QUEUE, args_summary, event_task_name
from events import Event


class EventBus:
    def __init__(self, celery: Celery) -> None:
        self._celery = celery

    def publish(self, events: Iterable[Event]) -> None:
        for event in events:
            self._celery.send_task(
                event_task_name(event.name),
                args=[event.model_dump(mode="json")],
                queue=EVENTS_QUEUE,
                task_id=event.id,
                argsrepr=args_summary("event", event.name, event.id, event.payload),
                kwargsrepr="{}",
            )
