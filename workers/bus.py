"""Publishing events on the broker: one Celery task per event name, and hook retries.

Messages leave through the process's ``core.sender.Sender``, which notes each in the
message ledger first, so one the broker loses is sent again (``core.redelivery``).
"""

from __future__ import annotations

from collections.abc import Iterable

from core.celery_app import EVENTS_QUEUE, HOOK_TASK, event_task_name
from core.redelivery import SentMessage
from core.sender import Sender
from events import Event, new_id


class EventBus:
    def __init__(self, sender: Sender) -> None:
        self._sender = sender

    def publish(self, events: Iterable[Event]) -> None:
        """Publish ``events`` in one broker trip."""
        messages = [
            SentMessage.now(
                event.id, event_task_name(event.name), EVENTS_QUEUE, [event.model_dump(mode="json")]
            )
            for event in events
        ]
        self._sender.send(messages)

    def retry_hook(
        self,
        event: Event,
        hook_key: str,
        attempt: int,
        countdown_s: float,
        replay_of: str | None = None,
    ) -> None:
        """Run one hook on ``event`` again, on its own, in ``countdown_s`` seconds."""
        message = SentMessage.now(
            new_id(),
            HOOK_TASK,
            EVENTS_QUEUE,
            [event.model_dump(mode="json"), hook_key],
            keywords={"attempt": attempt, "replay_of": replay_of},
            countdown_s=countdown_s,
        )
        self._sender.send([message])
