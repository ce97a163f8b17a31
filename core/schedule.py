"""The durable schedule: commands with a ``Command-Not-Before`` wait in Redis, not the broker.

The gateway records a scheduled command with its envelope and adds its id to one
sorted set scored by when it is due (``AsyncCommandStateStore.record_scheduled``).
Every worker process takes part in releasing due commands, one at a time: the
holder of a short lease, renewed each tick, and taken over by another process
within ``schedule_lease_s`` when its holder dies. No ETA ever sits in the broker,
so a delay longer than the Redis broker's visibility timeout is not redelivered
again and again (Celery #2599), and no single beat process has to stay up.

A release publishes the due commands through the sender (noted in the message
ledger first), then marks each ``scheduled → accepted`` and takes it off the
schedule. A releaser that dies in between leaves them scheduled, and the next
release publishes them again: the second message finds its command running or
done and changes nothing. A worker that takes a message before its command is
marked accepted tries again in a second. A due command whose deadline has passed
is expired instead, and one cancelled meanwhile is only taken off the schedule.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Sequence
from typing import cast

import redis

from core import keys, scripts, serial
from core.command_state import ENVELOPE_FIELD, CommandStateStore
from core.redelivery import command_message
from core.sender import Sender
from events import Command, CommandStatus, InvalidTransition

log = logging.getLogger(__name__)

RELEASE_BATCH = 200

# KEYS: lease. ARGV: holder, ms. 1 when ``holder`` holds the lease now (taken or renewed).
_HOLD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""

# KEYS: hash, channel, schedule. ARGV: command id, ttl. The command was published: it is
# accepted (unless it was cancelled meanwhile) and off the schedule either way; accepted,
# it joins its serial line, if it has one (its place is its release, not its submission).
_RELEASED = (
    serial.JOIN_LUA
    + """
redis.call('ZREM', KEYS[3], ARGV[1])
if redis.call('HGET', KEYS[1], 'status') ~= 'scheduled' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'accepted')
redis.call('HDEL', KEYS[1], 'envelope')
redis.call('EXPIRE', KEYS[1], ARGV[2])
join_line(KEYS[1], ARGV[2])
redis.call('PUBLISH', KEYS[2], 'accepted')
return 1
"""
)


class ScheduleReleaser:
    """Publishes due scheduled commands, while this process holds the release lease."""

    def __init__(
        self,
        client: redis.Redis,
        state: CommandStateStore,
        sender: Sender,
        *,
        ttl_s: int,
        lease_s: float,
        holder: str,
    ) -> None:
        self._redis = client
        self._state = state
        self._sender = sender
        self._ttl_s = ttl_s
        self._lease_ms = max(1, int(lease_s * 1000))
        self._holder = holder
        self._hold = client.register_script(_HOLD)
        self._released = client.register_script(_RELEASED)

    def tick(self) -> int:
        """Release what is due if this process holds the lease; how many were published."""
        if not self._hold(keys=[keys.SCHEDULE_LEASE], args=[self._holder, self._lease_ms]):
            return 0
        return self.release_due(time.time())

    def release_due(self, now: float) -> int:
        ids = cast(
            list[str],
            self._redis.zrangebyscore(keys.SCHEDULE, "-inf", now, start=0, num=RELEASE_BATCH),
        )
        if not ids:
            return 0
        due = self._due_commands(ids, now)
        if due:
            self._sender.send([command_message(command) for command in due])
            self._mark_released([command.id for command in due])
        return len(due)

    def _due_commands(self, ids: Sequence[str], now: float) -> list[Command]:
        """The envelopes to publish; cancelled or vanished ones leave the schedule, and
        those past their deadline expire."""
        pipe = self._redis.pipeline(transaction=False)
        for command_id in ids:
            pipe.hmget(keys.command(command_id), ["status", ENVELOPE_FIELD, "deadline"])
        due: list[Command] = []
        for command_id, (status, envelope, deadline) in zip(ids, pipe.execute(), strict=True):
            if status != CommandStatus.SCHEDULED or envelope is None:
                self._redis.zrem(keys.SCHEDULE, command_id)
            elif deadline is not None and float(deadline) < now:
                self._expire(command_id)
            else:
                due.append(Command.model_validate_json(envelope))
        return due

    def _expire(self, command_id: str) -> None:
        with contextlib.suppress(InvalidTransition):  # cancelled or released meanwhile
            self._state.expire(command_id)
        self._redis.zrem(keys.SCHEDULE, command_id)

    def _mark_released(self, command_ids: Sequence[str]) -> None:
        calls = [
            scripts.Call(
                self._released,
                [keys.command(command_id), keys.command_changes(command_id), keys.SCHEDULE],
                [command_id, self._ttl_s],
            )
            for command_id in command_ids
        ]
        scripts.run_all(self._redis, calls)
