"""The event bus: how a worker hands on the events it caused, and hook retries.

``EventBus`` is the seam; the runtime and the hook runner only see it. Two
implementations:

- ``CeleryEventBus``, a worker's: one Celery task per event name, and the
  ``hookline.hook`` task for a retry. Messages leave through the process's
  ``core.sender.Sender``, which notes each in the message ledger first, so one
  the broker loses is sent again (``core.redelivery``).
- ``InProcessBus``, the test harness's (``workers.testing``): events and
  retries queue up in memory and the harness hands them to the same
  ``Runtime.run_event`` and ``Runtime.run_hook`` the Celery tasks call. Retries
  wait on a virtual clock, so a test never sleeps through the real backoff.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from core.celery_app import EVENTS_QUEUE, HOOK_TASK, event_task_name
from core.redelivery import SentMessage
from core.sender import Sender
from events import Event, new_id


class EventBus(Protocol):
    def publish(self, events: Iterable[Event]) -> None:
        """Hand ``events`` on, to run their hooks."""
        ...

    def retry_hook(
        self,
        event: Event,
        hook_key: str,
        attempt: int,
        countdown_s: float,
        replay_of: str | None = None,
    ) -> None:
        """Run one hook on ``event`` again, on its own, in ``countdown_s`` seconds."""
        ...


class CeleryEventBus:
    """The broker: one task per event name, ``hookline.hook`` for a retry."""

    def __init__(self, sender: Sender) -> None:
        self._sender = sender

    def publish(self, events: Iterable[Event]) -> None:
        """Publish ``events`` in one broker trip."""
        messages = [
            SentMessage.now(
                event.id,
                event_task_name(event.name),
                EVENTS_QUEUE,
                [event.model_dump(mode="json")],
                traceparent=event.traceparent,
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
        message = SentMessage.now(
            new_id(),
            HOOK_TASK,
            EVENTS_QUEUE,
            [event.model_dump(mode="json"), hook_key],
            keywords={"attempt": attempt, "replay_of": replay_of},
            countdown_s=countdown_s,
            traceparent=event.traceparent,
        )
        self._sender.send([message])


@dataclass(frozen=True)
class ScheduledRetry:
    """A hook retry the hook runner scheduled: try ``attempt`` of ``hook_key`` on ``event``,
    due ``countdown_s`` after it was scheduled (at ``due_s`` on the bus's virtual clock)."""

    event: Event
    hook_key: str
    attempt: int
    countdown_s: float
    due_s: float
    replay_of: str | None = None


Sleeper = Callable[[float], None]


def no_sleep(seconds: float) -> None:
    """The default sleeper: the virtual clock moves on, nobody waits."""


@dataclass
class InProcessBus:
    """Events and retries queued in memory, delivered by ``next`` as a broker would.

    Events go out first, in the order they were published; a retry is delivered
    once nothing else is queued, earliest due first, and the virtual clock jumps
    to its due time. ``sleep`` is called with each jump (in seconds): the default
    does nothing; ``time.sleep`` would wait for real, and a test can pass a
    function that changes the world while the retry waits (repairs the data).
    """

    sleep: Sleeper = no_sleep
    now_s: float = field(default=0.0, init=False)
    # Every retry scheduled, in the order the hook runner scheduled them.
    scheduled: list[ScheduledRetry] = field(default_factory=list, init=False)
    _events: deque[Event] = field(default_factory=deque, init=False)
    _due: list[tuple[float, int, ScheduledRetry]] = field(default_factory=list, init=False)
    _order: Iterator[int] = field(default_factory=itertools.count, init=False)

    def publish(self, events: Iterable[Event]) -> None:
        self._events.extend(events)

    def retry_hook(
        self,
        event: Event,
        hook_key: str,
        attempt: int,
        countdown_s: float,
        replay_of: str | None = None,
    ) -> None:
        retry = ScheduledRetry(
            event, hook_key, attempt, countdown_s, self.now_s + countdown_s, replay_of
        )
        self.scheduled.append(retry)
        heapq.heappush(self._due, (retry.due_s, next(self._order), retry))

    def next(self) -> Event | ScheduledRetry | None:
        """The next delivery: a queued event, else the earliest due retry, else None."""
        if self._events:
            return self._events.popleft()
        if not self._due:
            return None
        due_s, _, retry = heapq.heappop(self._due)
        if due_s > self.now_s:
            self.sleep(due_s - self.now_s)
            self.now_s = due_s
        return retry
