"""Command state in Redis: the status lifecycle, the outcome, and the hook trace.

Transitions run as one Lua script that checks the current status against the
lifecycle in ``events.status`` and publishes the change, so two workers can
never both move a command, and a watcher sees every change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, TypeVar, cast

import redis
import redis.asyncio
from pydantic import BaseModel, ConfigDict

from core import keys, scripts, serial, tracing
from core.command_index import DEFAULT_BOUNDS, IndexBounds, queue_index_writes
from core.history import HistoryRecorder
from core.serial import SerialLines
from events import (
    Command,
    CommandCancelled,
    CommandExpired,
    CommandOutcome,
    CommandResult,
    CommandStatus,
    HooklineError,
    HookRun,
    InvalidTransition,
    Problem,
    Sealed,
    predecessors,
    utc_now,
)

SETTLED = "settled"
# Command-Not-Before and Command-Deadline, kept in the hash as epoch seconds (scripts compare).
TIMING_FIELDS = ("not_before", "deadline")
# Hash fields: the result had sensitive fields (sealed apart, handed over once), and the
# digests of an anonymous command's claims, ``claim:<digest>``.
RESULT_SEALED_FIELD = "result_sealed"
# A scheduled command's envelope, kept until a worker publishes it (``core.schedule``).
ENVELOPE_FIELD = "envelope"
CLAIM_FIELD_PREFIX = "claim:"

# KEYS: hash, channel. ARGV: target, allowed predecessors (comma list), ttl, now (epoch s),
# lease end (epoch s, or '' when the transition starts no run), fence (s), then field/value
# pairs from ``first_pair``. Sets ``current``, the previous status; returns false when the
# command is unknown. A running command whose lease has not ended is being run by someone
# else: starting it again is BUSY. Starting one the gateway has not confirmed yet is
# UNCONFIRMED while the fence allows, and past it the command is refused for good (FENCED):
# its gateway answered 503. Starting one whose serial line has another head is NOTURN: it
# was confirmed after it asked for its turn (``core.serial``), and asks again. A scheduled
# command being released is UNCONFIRMED too (its release marks it accepted right after
# publishing it); starting one whose deadline has passed is EXPIRED.
_MOVE = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
if current == 'publishing' and ARGV[5] ~= '' then
  local age = tonumber(ARGV[4]) - tonumber(redis.call('HGET', KEYS[1], 'publishing_at') or '0')
  if age < tonumber(ARGV[6]) then
    return redis.error_reply('UNCONFIRMED ' .. (tonumber(ARGV[6]) - age))
  end
  redis.call('HSET', KEYS[1], 'status', 'refused')
  redis.call('PUBLISH', KEYS[2], 'refused')
  return redis.error_reply('FENCED 0')
end
if ARGV[5] ~= '' and current == 'scheduled' then
  return redis.error_reply('UNCONFIRMED 1')
end
if ARGV[5] ~= '' and current == 'accepted' then
  local deadline = tonumber(redis.call('HGET', KEYS[1], 'deadline') or '')
  if deadline and deadline < tonumber(ARGV[4]) then return redis.error_reply('EXPIRED 0') end
end
if not string.find(',' .. ARGV[2] .. ',', ',' .. current .. ',', 1, true) then
  return redis.error_reply('REFUSED ' .. current)
end
if ARGV[5] ~= '' then
  if not holds_turn(KEYS[1]) then return redis.error_reply('NOTURN 0') end
  local lease = tonumber(redis.call('HGET', KEYS[1], 'lease_until') or '0')
  if current == 'running' and lease > tonumber(ARGV[4]) then
    return redis.error_reply('BUSY ' .. (lease - tonumber(ARGV[4])))
  end
  redis.call('HSET', KEYS[1], 'lease_until', ARGV[5])
  redis.call('HINCRBY', KEYS[1], 'attempts', 1)
end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
for i = first_pair, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[1])
"""

# The move; returns the previous status.
_TRANSITION = serial.TURN_LUA + "local first_pair = 7\n" + _MOVE + "return current\n"

# The move to a finished status (TERMINAL), and the wake of its serial line (``core.serial``)
# in the same script, so no end goes unseen by its line. KEYS: hash, channel, the waiting
# set. ARGV: the move's first six, then grace (s), pairs from 8. Returns {previous status,
# the woken command's message or false}.
_END = (
    serial.WAKE_LUA
    + "local first_pair = 8\n"
    + _MOVE
    + f"""
local line = redis.call('HGET', KEYS[1], '{serial.LINE_FIELD}')
local woken = false
if line then
  woken = wake_line(line, KEYS[1], tonumber(ARGV[4]), tonumber(ARGV[7]), KEYS[3])
end
return {{current, woken}}
"""
)

# KEYS: hash, channel. ARGV: the status to move to from 'publishing' (accepted: the broker
# holds it; refused: the gateway answers 503), the line ttl. 1 if moved; 0 if a worker
# fenced it first. An accepted command joins its serial line here, so lines keep the
# acceptance order and a refused command never joins one.
_SETTLE_PUBLISHING = (
    serial.JOIN_LUA
    + """
if redis.call('HGET', KEYS[1], 'status') ~= 'publishing' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1])
redis.call('HDEL', KEYS[1], 'publishing_at')
if ARGV[1] == 'accepted' then join_line(KEYS[1], ARGV[2]) end
redis.call('PUBLISH', KEYS[2], ARGV[1])
return 1
"""
)

# KEYS: pending set, channel. ARGV: event id. Publishes once the last pending event settles.
_SETTLE = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 1 and redis.call('SCARD', KEYS[1]) == 0 then
  redis.call('PUBLISH', KEYS[2], 'settled')
end
return redis.call('SCARD', KEYS[1])
"""


# KEYS: trace list, once set, channel. ARGV: run record, ttl, once key ('' for none).
# Appends the record unless a record with the same once key was appended before, and
# publishes 'hook' (event streams show each run as it is traced); 1 when it appended.
_RECORD_HOOK_RUN = """
local once = ARGV[3] ~= ''
if once and redis.call('SADD', KEYS[2], ARGV[3]) == 0 then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
if once then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
redis.call('PUBLISH', KEYS[3], 'hook')
return 1
"""


# KEYS: hash, channel. ARGV: target, allowed predecessors, ttl, then the command's initial
# field/value pairs, used when the hash has expired. Clears the last run's outcome.
_REOPEN = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then
  for i = 4, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
elseif not string.find(',' .. ARGV[2] .. ',', ',' .. current .. ',', 1, true) then
  return redis.error_reply('REFUSED ' .. current)
end
redis.call('HDEL', KEYS[1], 'error', 'result', 'result_sealed', 'finished_at', 'lease_until',
  'last_error')
redis.call('HSET', KEYS[1], 'status', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'replays', 1)
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('PUBLISH', KEYS[2], ARGV[1])
return current or false
"""

# KEYS: hash, channel, schedule. ARGV: command id, ttl, finished at, the problem (JSON),
# '1' when its route is cancellable. A command that has not started (or waits between
# runs) is cancelled for good; a running one of a cancellable route is asked to stop.
# Returns the status it was in and what was done: 'cancelled', 'requested' or 'refused'.
_CANCEL = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return false end
if current == 'scheduled' or current == 'accepted' or current == 'retrying' then
  redis.call('HSET', KEYS[1], 'status', 'cancelled', 'finished_at', ARGV[3], 'error', ARGV[4])
  redis.call('HDEL', KEYS[1], 'envelope')
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('PUBLISH', KEYS[2], 'cancelled')
  return {current, 'cancelled'}
end
if current == 'running' and ARGV[5] == '1' then
  redis.call('HSET', KEYS[1], 'cancel_requested', '1')
  redis.call('PUBLISH', KEYS[2], 'cancel_requested')
  return {current, 'requested'}
end
return {current, 'refused'}
"""

# KEYS: hash. ARGV: claim field. Only on a command that still exists (no stub left behind).
_ADD_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], ARGV[1], '1') end
return 0
"""

# KEYS: the sealed result. ARGV: the value the caller read and opened. Deletes it only if
# unchanged, so of two readers exactly one takes it.
_TAKE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class CommandDocument(BaseModel):
    """What ``GET /commands/{id}`` shows."""

    model_config = ConfigDict(frozen=True)

    command_id: str
    name: str
    status: CommandStatus
    owner: str
    attempts: int
    replays: int = 0
    submitted_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: CommandResult | None = None
    error: Problem | None = None
    hooks: list[HookRun] = []
    hooks_pending: int = 0
    # The result had sensitive fields that this document does not show: they are handed
    # over once, to the request that waited or the submitter's first read, then gone.
    result_redacted: bool = False
    not_before: datetime | None = None
    deadline: datetime | None = None
    # Its route is cancellable and a cancel was asked for while it ran: the handler stops
    # at its next checkpoint.
    cancel_requested: bool = False
    claims: frozenset[str] = frozenset()
    # The OpenTelemetry trace of its request, when tracing is on (``core.tracing``).
    trace_id: str | None = None

    @property
    def is_done(self) -> bool:
        """Finished, and every hook it caused has run."""
        return self.status.is_terminal and self.hooks_pending == 0

    @property
    def outcome(self) -> CommandOutcome:
        return CommandOutcome(result=self.result, error=self.error)

    def public(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"owner", "claims"})

    def revealed(self, secret: dict[str, Any]) -> CommandDocument:
        """The document with its result's sensitive fields back (for its submitter, once)."""
        if self.result is None:
            return self
        result = CommandResult(
            status_code=self.result.status_code, body=self.result.revealed(secret)
        )
        return self.model_copy(update={"result": result, "result_redacted": False})


def initial_fields(
    command: Command, status: CommandStatus = CommandStatus.ACCEPTED
) -> dict[str, str]:
    fields = {
        "name": command.name,
        "status": status,
        "owner": command.actor.principal,
        "attempts": "0",
        "correlation_id": command.correlation_id,
        "submitted_at": command.submitted_at.isoformat(),
    }
    found_trace = tracing.trace_id(command.traceparent)
    if found_trace is not None:
        fields["trace_id"] = found_trace
    if command.claim_digest is not None:
        fields[CLAIM_FIELD_PREFIX + command.claim_digest] = "1"
    for name in TIMING_FIELDS:
        moment: datetime | None = getattr(command, name)
        if moment is not None:
            fields[name] = f"{moment.timestamp():.3f}"
    if command.serial_key is not None:
        fields[serial.LINE_FIELD] = keys.serial_line(command.serial_key)
    return fields


def parse_document(
    command_id: str, fields: dict[str, str], hooks: list[str], pending: int
) -> CommandDocument | None:
    if not fields:
        return None
    return CommandDocument(
        command_id=command_id,
        name=fields["name"],
        status=CommandStatus(fields["status"]),
        owner=fields["owner"],
        attempts=int(fields.get("attempts", 0)),
        replays=int(fields.get("replays", 0)),
        submitted_at=datetime.fromisoformat(fields["submitted_at"]),
        started_at=fields.get("started_at"),
        finished_at=fields.get("finished_at"),
        result=json.loads(fields["result"]) if "result" in fields else None,
        error=json.loads(fields["error"]) if "error" in fields else None,
        hooks=[HookRun.model_validate_json(h) for h in hooks],
        hooks_pending=pending,
        result_redacted=RESULT_SEALED_FIELD in fields,
        not_before=_moment(fields.get("not_before")),
        deadline=_moment(fields.get("deadline")),
        cancel_requested="cancel_requested" in fields,
        trace_id=fields.get("trace_id"),
        claims=frozenset(
            name.removeprefix(CLAIM_FIELD_PREFIX)
            for name in fields
            if name.startswith(CLAIM_FIELD_PREFIX)
        ),
    )


class CommandStateStore:
    """The worker side: moves commands through their lifecycle and records hook runs."""

    def __init__(
        self,
        client: redis.Redis,
        ttl_s: int,
        secret_ttl_s: int = 300,
        fence_s: float = 60.0,
        *,
        index: IndexBounds = DEFAULT_BOUNDS,
        lines: SerialLines | None = None,
        history: HistoryRecorder | None = None,
    ) -> None:
        """``lines`` sends the message of a command whose turn an end gave (without it, the
        sweep of a process that has one sends it). ``history`` keeps each change and hook
        run in the command's summary in MongoDB (``core.history``): this store is the one
        place a worker changes a command, so it is the worker's one seam for history."""
        self._redis = client
        self._history = history
        self._ttl_s = ttl_s
        self._secret_ttl_s = secret_ttl_s
        self._fence_s = fence_s
        self._index = index
        self._lines = lines
        self._transition = client.register_script(_TRANSITION)
        self._end = client.register_script(_END)
        self._settle_publishing = client.register_script(_SETTLE_PUBLISHING)
        self._settle = client.register_script(_SETTLE)
        self._reopen = client.register_script(_REOPEN)
        self._record_hook_run = client.register_script(_RECORD_HOOK_RUN)

    def transition(
        self, command_id: str, target: CommandStatus, lease_s: float = 0, **fields: str
    ) -> CommandStatus | None:
        """Move to ``target``; the previous status, or None if the command is unknown.

        With ``lease_s`` the move starts a run: it counts an attempt and holds a lease,
        and raises ``CommandBusy`` while another run's lease is live. A move to a finished
        status also gives the turn of the command's serial line, if it has one, to the next
        command (``core.serial``): the one seam where every end reaches its line.
        """
        allowed = ",".join(sorted(predecessors(target)))
        now = time.time()
        lease_until = f"{now + lease_s:.3f}" if lease_s else ""
        pairs = [item for pair in fields.items() for item in pair]
        args = [
            target.value, allowed, self._ttl_s, f"{now:.3f}", lease_until, self._fence_s
        ]  # fmt: skip
        hash_keys = [keys.command(command_id), keys.command_changes(command_id)]
        try:
            if not target.is_terminal:
                previous = self._transition(keys=hash_keys, args=[*args, *pairs])
            else:
                previous = self._end_run(hash_keys, [*args, *self._wake_args(), *pairs])
        except redis.ResponseError as e:
            raise _refusal(command_id, target, str(e)) from e
        if previous and self._history is not None:
            self._history.status(
                command_id, target, started=bool(lease_s), error=_error_text(fields)
            )
        return CommandStatus(previous) if previous else None

    def _wake_args(self) -> list[float]:
        return [self._lines.grace_s if self._lines is not None else 0.0]

    def _end_run(self, hash_keys: list[str], args: list[str | float | int]) -> str | None:
        """The end's move; the message of the command it woke goes out through ``lines``."""
        reply = self._end(keys=[*hash_keys, keys.SERIAL_WAITING], args=args)
        if not reply:
            return None
        previous, woken = reply
        if woken and self._lines is not None:
            self._lines.resume([woken])
        return cast(str | None, previous)

    def start(self, command_id: str, lease_s: float) -> CommandStatus | None:
        return self.transition(command_id, CommandStatus.RUNNING, lease_s, started_at=_now())

    def succeed(self, command_id: str, result: CommandResult, sealed: Sealed | None = None) -> None:
        """Record the outcome; ``sealed`` (the result's sensitive fields) is kept apart, for
        ``secret_ttl_s`` at most, and stored before the status tells anyone to look."""
        fields = {"result": result.model_dump_json(), "finished_at": _now()}
        if sealed is not None:
            self._redis.set(
                keys.command_secret(command_id), sealed.model_dump_json(), ex=self._secret_ttl_s
            )
            fields[RESULT_SEALED_FIELD] = "1"
        self.transition(command_id, CommandStatus.SUCCEEDED, 0, **fields)

    def fail(self, command_id: str, problem: Problem, status: CommandStatus) -> None:
        self.transition(command_id, status, error=problem.model_dump_json(), finished_at=_now())

    def expire(self, command_id: str) -> None:
        """``scheduled | accepted → expired``: its deadline passed before it started."""
        problem = Problem.from_error(
            CommandExpired("its Command-Deadline passed before it started; it never ran"),
            instance=f"/commands/{command_id}",
        )
        self.fail(command_id, problem, CommandStatus.EXPIRED)

    def record_publishing(self, commands: Sequence[Command]) -> None:
        """Record commands as ``publishing``, in one round trip, before they are published:
        no worker runs one until ``confirm`` says the broker holds it."""
        now = f"{time.time():.3f}"
        pipe = self._redis.pipeline(transaction=True)
        for command in commands:
            key = keys.command(command.id)
            fields = {**initial_fields(command, CommandStatus.PUBLISHING), "publishing_at": now}
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self._ttl_s)
            queue_index_writes(pipe, command, self._index)
        pipe.execute()

    def confirm(self, command_ids: Sequence[str]) -> list[bool]:
        """``publishing → accepted`` for each; false where a worker fenced it meanwhile."""
        return self._settle_all(command_ids, CommandStatus.ACCEPTED)

    def refuse(self, command_ids: Sequence[str]) -> None:
        """``publishing → refused``: the gateway answers 503, so the command must never run,
        even if the broker kept it (a worker finding it later drops it)."""
        self._settle_all(command_ids, CommandStatus.REFUSED)

    def _settle_all(self, command_ids: Sequence[str], target: CommandStatus) -> list[bool]:
        calls = [
            scripts.Call(
                self._settle_publishing,
                [keys.command(command_id), keys.command_changes(command_id)],
                [target.value, self._ttl_s],
            )
            for command_id in command_ids
        ]
        return [bool(moved) for moved in scripts.run_all(self._redis, calls)]

    def reopen(self, command: Command) -> CommandStatus | None:
        """``dead → accepted`` for an operator's replay; recreates an expired command.

        The previous status, or None when the command had expired. Only a replay calls
        this: it is the one way out of ``dead``.
        """
        target = CommandStatus.ACCEPTED
        allowed = ",".join(sorted(predecessors(target)))
        pairs = [item for pair in initial_fields(command).items() for item in pair]
        try:
            previous = self._reopen(
                keys=[keys.command(command.id), keys.command_changes(command.id)],
                args=[target.value, allowed, self._ttl_s, *pairs],
            )
        except redis.ResponseError as e:
            raise _refusal(command.id, target, str(e)) from e
        if self._history is not None:
            self._history.accepted(command, target, replay=True)
        return CommandStatus(previous) if previous else None

    def expect_events(self, command_id: str, event_ids: list[str]) -> None:
        """Mark events as pending before they are published, so none settles unseen."""
        if event_ids:
            key = keys.command_pending(command_id)
            pipe = self._redis.pipeline()
            pipe.sadd(key, *event_ids)
            pipe.expire(key, self._ttl_s)
            pipe.execute()

    def settle(self, command_id: str, event_id: str) -> None:
        self._settle(
            keys=[keys.command_pending(command_id), keys.command_changes(command_id)],
            args=[event_id],
        )

    def record_hook_run(self, command_id: str, run: HookRun, once: str = "") -> bool:
        """Append ``run`` to the command's hook trace; with ``once``, only the first time
        that key is given (a completion is traced once, whoever traces it). True if added."""
        added = self._record_hook_run(
            keys=[
                keys.command_hooks(command_id),
                keys.command_hooks_once(command_id),
                keys.command_changes(command_id),
            ],
            args=[run.model_dump_json(), self._ttl_s, once],
        )
        if added and self._history is not None:
            self._history.hook_run(command_id, run)
        return bool(added)

    def read(self, command_id: str) -> CommandDocument | None:
        pipe = _queue_document_reads(self._redis.pipeline(transaction=False), command_id)
        return parse_document(command_id, *pipe.execute())

    def cancel_requested(self, command_id: str) -> bool:
        """Whether a cancel was asked for while the command runs (a handler's checkpoint)."""
        return bool(self._redis.hexists(keys.command(command_id), "cancel_requested"))

    def pop_secret(self, command_id: str) -> Sealed | None:
        """The sealed part of the result, removed as it is read (the harness's submitter)."""
        return _sealed(cast(str | None, self._redis.getdel(keys.command_secret(command_id))))


class AsyncCommandStateStore:
    """The gateway side: reads command documents (the publisher records accepted ones)."""

    def __init__(
        self, client: redis.asyncio.Redis, ttl_s: int, index: IndexBounds = DEFAULT_BOUNDS
    ) -> None:
        self._redis = client
        self._ttl_s = ttl_s
        self._index = index
        self._add_claim = client.register_script(_ADD_CLAIM)
        self._take = client.register_script(_TAKE)
        self._cancel = client.register_script(_CANCEL)

    async def record_scheduled(self, command: Command) -> None:
        """Record ``command`` as ``scheduled`` with its envelope, and put it in the schedule,
        in one transaction: a worker publishes it when it is due (``core.schedule``). It
        lives its TTL after it is due."""
        assert command.not_before is not None
        key = keys.command(command.id)
        fields = {
            **initial_fields(command, CommandStatus.SCHEDULED),
            ENVELOPE_FIELD: command.model_dump_json(),
        }
        due = command.not_before.timestamp()
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(key, mapping=fields)
        pipe.expire(key, self._ttl_s + max(0, int(due - time.time()) + 1))
        pipe.zadd(keys.SCHEDULE, {command.id: due})
        queue_index_writes(pipe, command, self._index)
        await pipe.execute()

    async def cancel(self, command_id: str, cancellable: bool) -> Cancellation | None:
        """Cancel the command if it has not started; ask it to stop if it runs and its route
        is ``cancellable``. None when the command is unknown."""
        problem = Problem.from_error(
            CommandCancelled("cancelled at its submitter's request before it ran"),
            instance=f"/commands/{command_id}",
        )
        reply = await self._cancel(
            keys=[keys.command(command_id), keys.command_changes(command_id), keys.SCHEDULE],
            args=[command_id, self._ttl_s, _now(), problem.model_dump_json(), int(cancellable)],
        )
        if not reply:
            return None
        status, action = reply
        return Cancellation(CommandStatus(status), CancelAction(action))

    async def read(self, command_id: str) -> CommandDocument | None:
        pipe = _queue_document_reads(self._redis.pipeline(transaction=False), command_id)
        return parse_document(command_id, *await pipe.execute())

    async def owned(
        self, principal: str, before: str | None, count: int
    ) -> list[tuple[str, CommandDocument | None]]:
        """The next ``count`` of ``principal``'s command ids older than ``before`` (newest
        first, from ``core.command_index``), each with its document (without hooks), None
        for one that expired, which leaves the index here."""
        index = keys.owner_commands(principal)
        upper = "(" + before if before else "+"
        ids: list[str] = await self._redis.zrevrangebylex(index, upper, "-", start=0, num=count)
        pipe = self._redis.pipeline(transaction=False)
        for command_id in ids:
            pipe.hgetall(keys.command(command_id))
        found = [
            parse_document(i, f, [], 0) for i, f in zip(ids, await pipe.execute(), strict=True)
        ]
        gone = [command_id for command_id, doc in zip(ids, found, strict=True) if doc is None]
        if gone:
            await self._redis.zrem(index, *gone)
        return list(zip(ids, found, strict=True))

    async def peek_secret(self, command_id: str) -> Sealed | None:
        """The sealed part of the result, if it is still there (read, not taken)."""
        return _sealed(await self._redis.get(keys.command_secret(command_id)))

    async def take_secret(self, command_id: str, seen: Sealed) -> bool:
        """Remove the sealed part if it is still ``seen``: true for one caller only."""
        taken = await self._take(
            keys=[keys.command_secret(command_id)], args=[seen.model_dump_json()]
        )
        return bool(taken)

    async def add_claim(self, command_id: str, digest: str) -> None:
        """Let a second claim read the command (an Idempotency-Key replay of an anonymous one)."""
        await self._add_claim(keys=[keys.command(command_id)], args=[CLAIM_FIELD_PREFIX + digest])


_Pipeline = TypeVar("_Pipeline", redis.client.Pipeline, redis.asyncio.client.Pipeline)


class CancelAction(StrEnum):
    CANCELLED = "cancelled"  # it never runs (or runs no more, between retries)
    REQUESTED = "requested"  # it runs; its handler stops at its next checkpoint
    REFUSED = "refused"  # finished already, or running on a route that is not cancellable


@dataclass(frozen=True)
class Cancellation:
    previous: CommandStatus
    action: CancelAction


def _queue_document_reads(pipe: _Pipeline, command_id: str) -> _Pipeline:
    """The three reads that make a command document, in the order ``parse_document`` takes."""
    pipe.hgetall(keys.command(command_id))
    pipe.lrange(keys.command_hooks(command_id), 0, -1)
    pipe.scard(keys.command_pending(command_id))
    return pipe


class CommandBusy(HooklineError):
    """Another worker holds the command's lease; try again once it may have ended."""

    def __init__(self, detail: str, retry_in_s: float) -> None:
        super().__init__(detail)
        self.retry_in_s = retry_in_s


class CommandUnconfirmed(HooklineError):
    """The gateway has not yet confirmed that the broker holds it; try again shortly (the
    fence ends in ``fence_in_s`` at the latest)."""

    def __init__(self, detail: str, fence_in_s: float) -> None:
        super().__init__(detail)
        self.fence_in_s = fence_in_s


class NotYourTurn(HooklineError):
    """The command's serial line has another command at its head: it must take its turn
    (and park) first; it was confirmed after it last asked (``core.serial``)."""


class CommandRefused(HooklineError):
    """Its gateway answered 503 (or never confirmed it within the fence): it never runs."""


class DeadlinePassed(HooklineError):
    """A delivery found the command not started and past its ``Command-Deadline``."""


def _refusal(command_id: str, target: CommandStatus, reply: str) -> HooklineError:
    kind, _, value = reply.partition(" ")
    if kind == "BUSY":
        return CommandBusy(f"command {command_id} is running elsewhere", float(value))
    if kind == "NOTURN":
        return NotYourTurn(f"command {command_id} is not at the head of its serial line")
    if kind == "UNCONFIRMED":
        return CommandUnconfirmed(f"command {command_id} is not confirmed yet", float(value))
    if kind == "EXPIRED":
        return DeadlinePassed(f"command {command_id} was not started before its deadline")
    if kind == "FENCED" or (kind == "REFUSED" and value == CommandStatus.REFUSED):
        return CommandRefused(f"command {command_id} was refused when it was submitted")
    if kind == "REFUSED":
        return InvalidTransition(
            f"command {command_id} cannot go from {value} to {target}", current=value
        )
    raise redis.ResponseError(reply)


def _error_text(fields: dict[str, str]) -> str | None:
    """An end's problem as one line for the history: its title and detail."""
    if "last_error" in fields:
        return fields["last_error"]
    if "error" not in fields:
        return None
    problem = json.loads(fields["error"])
    return ": ".join(str(problem[k]) for k in ("title", "detail") if problem.get(k))


def _moment(epoch: str | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(float(epoch), UTC)


def _sealed(raw: str | None) -> Sealed | None:
    return None if raw is None else Sealed.model_validate_json(raw)


def _now() -> str:
    return utc_now().isoformat()
