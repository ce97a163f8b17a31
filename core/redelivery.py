"""The message ledger: what was published and has not started yet, so a lost message is sent again.

Late acks cover a worker dying while it holds a message. They do not cover one
window of the Redis broker: BRPOP takes a message off its list before the
worker records it as unacknowledged, so a worker killed in between loses it.
Hookline therefore notes every message it publishes (id, task, arguments,
queue, due time) and deletes the note when a worker starts the task. Queues are
first in, first out: when messages of a queue that were due well after a noted
one (``grace``) have started, the noted one was lost, and a worker sends it
again (``workers.redelivery``). A message sent twice is harmless: commands,
events and hooks are idempotent by id.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

import redis
import redis.asyncio
from pydantic import BaseModel, ConfigDict

from core import keys, scripts
from events import Command

# KEYS: note, due set. ARGV: json, due, ttl, id.
_RECORD = """
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS: due set, started mark, note. ARGV: id. The mark follows the message's own due
# time (in its note), not its score, which a resend moves to the back. Every message is
# noted before it is published, so one without a note was noted by nobody (or expired).
_STARTED = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
local due = tonumber(score)
local note = redis.call('GET', KEYS[3])
if note then due = tonumber(cjson.decode(note)['due']) end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3])
if due > tonumber(redis.call('GET', KEYS[2]) or '0') then
  redis.call('SET', KEYS[2], string.format('%.6f', due))
end
return 1
"""


class SentMessage(BaseModel):
    """A task message as published, enough to publish it again."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    task: str
    queue: str
    args: list[Any]
    keywords: dict[str, Any] = {}
    due: float
    # The envelope's trace context: a resend, or a release by another process, is
    # published in it (``core.tracing``).
    traceparent: str | None = None

    @classmethod
    def now(
        cls,
        task_id: str,
        task: str,
        queue: str,
        arguments: list[Any],
        *,
        keywords: dict[str, Any] | None = None,
        countdown_s: float = 0.0,
        traceparent: str | None = None,
    ) -> SentMessage:
        """A message published now, due after ``countdown_s``."""
        return cls(
            task_id=task_id,
            task=task,
            queue=queue,
            args=arguments,
            keywords=keywords or {},
            due=time.time() + countdown_s,
            traceparent=traceparent,
        )


def command_message(command: Command) -> SentMessage:
    """The message that runs ``command``: its task is its name, on its module's queue."""
    return SentMessage.now(
        command.id,
        command.name,
        command.module,
        [command.model_dump(mode="json")],
        traceparent=command.traceparent,
    )


class MessageLedger:
    """Notes what is published (through ``core.sender``), marks starts, finds lost messages."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._redis = client
        self._ttl_s = ttl_s
        self._record = client.register_script(_RECORD)
        self._started = client.register_script(_STARTED)

    def record_all(self, messages: Sequence[SentMessage]) -> None:
        """Note ``messages`` before publishing them, in one round trip (a retry replaces
        its earlier note)."""
        scripts.run_all(self._redis, [self._record_call(message) for message in messages])

    def _record_call(self, message: SentMessage) -> scripts.Call:
        return scripts.Call(
            self._record,
            [keys.message(message.task_id), keys.messages_due(message.queue)],
            [message.model_dump_json(), f"{message.due:.6f}", self._ttl_s, message.task_id],
        )

    def started(self, task_id: str, queue: str) -> None:
        self._started(
            keys=[keys.messages_due(queue), keys.messages_started(queue), keys.message(task_id)],
            args=[task_id],
        )

    def overdue(self, queue: str, grace_s: float, limit: int) -> list[SentMessage]:
        """Noted messages due more than ``grace_s`` before the latest one that started."""
        raw_mark = cast(str | None, self._redis.get(keys.messages_started(queue)))
        if raw_mark is None:
            return []
        ids = cast(
            list[str],
            self._redis.zrangebyscore(
                keys.messages_due(queue), "-inf", float(raw_mark) - grace_s, start=0, num=limit
            ),
        )
        if not ids:
            return []
        notes = cast(list[str | None], self._redis.mget([keys.message(i) for i in ids]))
        gone = [i for i, note in zip(ids, notes, strict=True) if note is None]
        if gone:
            self._redis.zrem(keys.messages_due(queue), *gone)
        return [SentMessage.model_validate_json(n) for n in notes if n is not None]

    def forget(self, messages: Sequence[SentMessage]) -> None:
        """Drop the notes of messages that were never published (their commands refused)."""
        if messages:
            pipe = self._redis.pipeline(transaction=False)
            pipe.delete(*(keys.message(m.task_id) for m in messages))
            for message in messages:
                pipe.zrem(keys.messages_due(message.queue), message.task_id)
            pipe.execute()

    def resent(self, message: SentMessage) -> None:
        """The message is at the back of its queue again: not overdue before messages
        published after now have started (if still noted). Its own due time is unchanged."""
        self._redis.zadd(keys.messages_due(message.queue), {message.task_id: time.time()}, xx=True)


class Backlog(BaseModel):
    """A queue's messages that are due and have not started, and how long the oldest waited."""

    model_config = ConfigDict(frozen=True)

    queue: str
    waiting: int
    oldest_age_s: float | None


async def backlog(client: redis.asyncio.Redis, queue: str) -> Backlog:
    """Read from the ledger, so it is the same on either broker: a message is in it from
    its publish until a worker starts it."""
    now = time.time()
    due = keys.messages_due(queue)
    waiting = await client.zcount(due, "-inf", now)
    oldest = await client.zrangebyscore(due, "-inf", now, start=0, num=1, withscores=True)
    age = now - float(oldest[0][1]) if oldest else None
    return Backlog(queue=queue, waiting=int(waiting), oldest_age_s=age)
