"""Publishing on the broker: one Celery task per event name, and hook retries."""

from __future__ import annotations

from collections.abc import Iterable

from celery import Celery

from core.celery_app import EVENTS_QUEUE, HOOK_TASK, event_task_name
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
            )

    def retry_hook(
        self,
        event: Event,
        hook_key: str,
        attempt: int,
        countdown_s: float,
        replay_of: str | None = None,
    ) -> None:
        """Run one hook on ``event`` again, on its own, in ``countdown_s`` seconds."""
        self._celery.send_task(
            HOOK_TASK,
            args=[event.model_dump(mode="json"), hook_key],
            kwargs={"attempt": attempt, "replay_of": replay_of},
            queue=EVENTS_QUEUE,
            countdown=countdown_s,
        )
