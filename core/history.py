"""Command history in MongoDB: one summary per command, kept for ``history_retention_s``.

The Redis state of a command lives for ``command_ttl_s`` and is lost with Redis; the
summary (name, owner, status, its timeline, attempts, hook runs) is what the operator
console lists, filters and shows, and it survives restarts of every process.

Writers: the gateway (accepted, scheduled, cancelled before start; ``api_gateway.history``)
and the worker's command state store (every other status change and every hook run;
``core.command_state``). Each write is one or two updates keyed by the command id; a
timeline entry is keyed by its time and status, a hook run by its run id and try, so a
write repeated changes nothing. A write never fails or holds up a command:
``HistoryRecorder`` makes its writes in order on a thread of its own, so a slow or frozen
MongoDB costs the caller nothing (a worker's status change or retry must not wait on it),
and logs a write that failed. The thread sends a write together with what follows it
within ``LINGER_S`` as one ordered bulk write: one round trip carries a command's
changes in one process, and under load the changes of many commands.

Times are stored as epoch seconds (numbers compare and sort the same everywhere), except
the TTL index's field, ``ttl.at``, a date as TTL indexes need, written as a whole
subdocument each time.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymongo import DESCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import OperationFailure, PyMongoError

from core import tracing
from events import Command, CommandStatus, HookRun, HookRunStatus, utc_now

log = logging.getLogger(__name__)

COLLECTION = "hookline_command_history"
TTL_FIELD = "ttl.at"
MAX_PAGE_SIZE = 200
# At most this many writes in one bulk write; the rest go in the next.
MAX_BATCH = 500
# How long the writer gathers what follows a write before sending them together: a
# command's changes in one process (started, ended, its hook runs) come within it.
LINGER_S = 0.05


class StatusChange(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: CommandStatus
    at: datetime


class HookRunRecord(BaseModel):
    """One try of one hook on one event, as the command's trace recorded it."""

    model_config = ConfigDict(frozen=True)

    run: HookRun
    at: datetime


class CommandSummary(BaseModel):
    """What the console knows of one command."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str | None = None
    owner: str | None = None
    status: CommandStatus
    created_at: datetime | None = None
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: int = 0
    error: str | None = None
    timeline: list[StatusChange] = []
    hook_runs: list[HookRunRecord] = []
    # The OpenTelemetry trace of its request, when the gateway traces (``core.tracing``).
    trace_id: str | None = None

    @property
    def hook_failures(self) -> int:
        failed = (HookRunStatus.FAILED, HookRunStatus.DEAD)
        return sum(1 for r in self.hooks if r.run.status in failed)

    @property
    def hooks(self) -> list[HookRunRecord]:
        """The hook runs, without the tries of outbound webhook deliveries."""
        return [r for r in self.hook_runs if r.run.target is None]

    @property
    def deliveries(self) -> list[HookRunRecord]:
        """The tries of the outbound webhook deliveries of its events (``modules.webhooks``)."""
        return [r for r in self.hook_runs if r.run.target is not None]


class HistoryQuery(BaseModel):
    """The console's filters: every field optional; newest first, a page at a time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None = Field(None, max_length=200)
    status: CommandStatus | None = None
    owner: str | None = Field(None, max_length=200)
    since: datetime | None = None
    until: datetime | None = None
    page: int = Field(1, ge=1, le=10_000)
    limit: int = Field(25, ge=1, le=MAX_PAGE_SIZE)


class HistoryPage(BaseModel):
    model_config = ConfigDict(frozen=True)

    items: list[CommandSummary]
    page: int
    has_more: bool


class HistoryStore:
    """The collection, its indexes, its writes and its reads (pymongo, synchronous)."""

    def __init__(self, db: Database[dict[str, Any]], retention_s: int) -> None:
        self._docs: Collection[dict[str, Any]] = db[COLLECTION]
        self.retention_s = retention_s

    def ensure_indexes(self) -> None:
        """The TTL index (its expiry moved to ``retention_s`` if it changed) and one index
        per console filter, each with the time, newest first."""
        try:
            self._docs.create_index(TTL_FIELD, expireAfterSeconds=self.retention_s)
        except OperationFailure:  # it exists with another expiry
            self._docs.database.command(
                "collMod",
                COLLECTION,
                index={"keyPattern": {TTL_FIELD: 1}, "expireAfterSeconds": self.retention_s},
            )
        self._docs.create_index([("created_at", DESCENDING)])
        for field in ("name", "status", "owner"):
            self._docs.create_index([(field, 1), ("created_at", DESCENDING)])

    def write(self, ops: Sequence[UpdateOne]) -> None:
        """``ops`` in one round trip, in order."""
        if ops:
            self._docs.bulk_write(list(ops), ordered=True)

    @staticmethod
    def accepted_ops(
        command: Command,
        status: CommandStatus,
        at: datetime | None = None,
        *,
        replay: bool = False,
    ) -> list[UpdateOne]:
        """Who submitted what, and when: the gateway's write at acceptance (``at``: when it
        happened; the write may land after a worker's), or a replay's reopening."""
        identity = {
            "name": command.name,
            "owner": command.actor.principal,
            "created_at": command.submitted_at.timestamp(),
        }
        trace_id = tracing.trace_id(command.traceparent)
        if trace_id is not None:
            identity["trace_id"] = trace_id
        moment = at or utc_now()
        if replay:
            return _status_ops(command.id, status, moment, identity, {})
        # The first change of every command: it never moves a summary a worker wrote.
        return [
            UpdateOne(
                {"_id": command.id},
                {
                    "$set": {**_change(status, moment), **_touched(moment), **identity},
                    "$setOnInsert": {"status": status.value, "status_at": moment.timestamp()},
                },
                upsert=True,
            )
        ]

    @staticmethod
    def status_ops(
        command_id: str, status: CommandStatus, *, started: bool, error: str | None
    ) -> list[UpdateOne]:
        """A status change: a start counts an attempt; an end records when, and why."""
        now = utc_now()
        fields: dict[str, Any] = {}
        if started:
            fields["started_at"] = now.timestamp()
        if status.is_terminal:
            fields["finished_at"] = now.timestamp()
        if error is not None:
            fields["error"] = error
        return _status_ops(command_id, status, now, fields, {"attempts": 1} if started else {})

    @staticmethod
    def hook_run_ops(command_id: str, run: HookRun) -> list[UpdateOne]:
        now = utc_now()
        record = {"run": run.model_dump(mode="json"), "at": now.timestamp()}
        return [
            UpdateOne(
                {"_id": command_id},
                {"$set": {f"hook_runs.{_run_key(run)}": record, **_touched(now)}},
                upsert=True,
            )
        ]

    # -- reads ----------------------------------------------------------------------------

    def get(self, command_id: str) -> CommandSummary | None:
        document = self._docs.find_one({"_id": command_id})
        return None if document is None or "status" not in document else _summary(document)

    def find(self, query: HistoryQuery) -> HistoryPage:
        conditions: dict[str, Any] = {"status": {"$exists": True}}
        for field in ("name", "owner"):
            if getattr(query, field):
                conditions[field] = getattr(query, field)
        if query.status is not None:
            conditions["status"] = query.status.value
        window = {
            op: moment.timestamp()
            for op, moment in (("$gte", query.since), ("$lt", query.until))
            if moment is not None
        }
        if window:
            conditions["created_at"] = window
        found = (
            self._docs.find(conditions)
            .sort("created_at", DESCENDING)
            .skip((query.page - 1) * query.limit)
            .limit(query.limit + 1)
        )
        items = [_summary(d) for d in found]
        return HistoryPage(
            items=items[: query.limit], page=query.page, has_more=len(items) > query.limit
        )

    def outcomes_per_minute(self, minutes: int) -> dict[datetime, Counter[str]]:
        """Finished commands of the last ``minutes``, counted per minute and status."""
        since = (utc_now() - timedelta(minutes=minutes)).timestamp()
        counts: dict[datetime, Counter[str]] = {}
        found = self._docs.find({"finished_at": {"$gte": since}}, {"finished_at": 1, "status": 1})
        for document in found:
            finished = datetime.fromtimestamp(document["finished_at"], UTC)
            minute = finished.replace(second=0, microsecond=0)
            counts.setdefault(minute, Counter())[document["status"]] += 1
        return counts


@dataclass(frozen=True)
class _Write:
    what: str
    command_id: str
    ops: list[UpdateOne]


class HistoryRecorder:
    """The writers' face of the store: writes queued to one thread, made in order, many in
    one round trip; a failed write is logged, never raised."""

    def __init__(self, store: HistoryStore) -> None:
        self.store = store
        self._queue: queue.SimpleQueue[_Write | threading.Event] = queue.SimpleQueue()
        self._lock = threading.Lock()
        # Set when someone waits for the queued writes: the writer stops lingering.
        self._hurry = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def accepted(
        self,
        command: Command,
        status: CommandStatus,
        at: datetime | None = None,
        *,
        replay: bool = False,
    ) -> None:
        ops = self.store.accepted_ops(command, status, at, replay=replay)
        self._queue_write(_Write("acceptance", command.id, ops))

    def status(
        self,
        command_id: str,
        status: CommandStatus,
        *,
        started: bool = False,
        error: str | None = None,
    ) -> None:
        ops = self.store.status_ops(command_id, status, started=started, error=error)
        self._queue_write(_Write("status", command_id, ops))

    def hook_run(self, command_id: str, run: HookRun) -> None:
        self._queue_write(_Write("hook run", command_id, self.store.hook_run_ops(command_id, run)))

    def flush(self) -> None:
        """Wait until every write queued so far has been made (or logged as failed)."""
        self._mark().wait()

    def close(self) -> None:
        """Make the queued writes, then stop (a caller bounds how long it waits)."""
        self._closed = True
        self._mark().wait()

    def _queue_write(self, write: _Write) -> None:
        if not self._closed:
            self._queue.put(write)
            self._start()

    def _mark(self) -> threading.Event:
        """An event set once everything queued before it was written."""
        done = threading.Event()
        self._queue.put(done)
        self._hurry.set()
        self._start()
        return done

    def _start(self) -> None:
        """The writer thread starts with the first write: in a forked worker, in the child."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._write_forever, name="hookline-history", daemon=True
                )
                self._thread.start()

    def _write_forever(self) -> None:
        while True:
            batch, marks = self._next_batch()
            self._write(batch)
            for mark in marks:
                mark.set()
            with self._lock:  # as ``_start`` decides: a write queued now finds no thread
                if self._closed and self._queue.empty():
                    self._thread = None
                    return

    def _next_batch(self) -> tuple[list[_Write], list[threading.Event]]:
        """The next write and what is queued within ``LINGER_S`` after it, up to
        ``MAX_BATCH`` writes; at once when someone waits for the writes (``flush``,
        ``close``). The writer sleeps through the linger rather than waking for each write:
        a thread woken per write takes the GIL from the one that queued it."""
        first = self._queue.get()
        if not isinstance(first, threading.Event):
            self._hurry.wait(LINGER_S)
        self._hurry.clear()
        batch: list[_Write] = []
        marks: list[threading.Event] = []
        item: _Write | threading.Event | None = first
        while item is not None:
            if isinstance(item, threading.Event):
                marks.append(item)
            else:
                batch.append(item)
            if len(batch) >= MAX_BATCH:
                break
            item = self._next()
        return batch, marks

    def _next(self) -> _Write | threading.Event | None:
        """The next item queued, if there is one."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            return None

    def _write(self, batch: list[_Write]) -> None:
        try:
            self.store.write([op for write in batch for op in write.ops])
        except PyMongoError as e:
            for write in batch:
                log.warning(
                    "history: the %s of command %s was not recorded (%s: %s)",
                    write.what, write.command_id, type(e).__name__, e,
                    extra={"command_id": write.command_id},
                )  # fmt: skip


def _status_ops(
    command_id: str,
    status: CommandStatus,
    at: datetime,
    fields: dict[str, Any],
    inc: dict[str, int],
) -> list[UpdateOne]:
    """Two updates, in this order, right whatever the summary holds: the first takes the
    change into the timeline (and creates the summary with this status when there is
    none), the second moves the status only forward in time (two processes may write one
    command's changes out of order). Neither depends on the other's outcome, so a batch
    of them is one bulk write."""
    later = {**_change(status, at), **_touched(at), **fields}
    current = {"status": status.value, "status_at": at.timestamp()}
    extra: dict[str, Any] = {"$inc": inc} if inc else {}
    return [
        UpdateOne(
            {"_id": command_id},
            {"$set": later, "$setOnInsert": current, **extra},
            upsert=True,
        ),
        UpdateOne({"_id": command_id, "status_at": {"$lt": at.timestamp()}}, {"$set": current}),
    ]


def _touched(now: datetime) -> dict[str, Any]:
    """The last change's time: a number to read, a date for the TTL index."""
    return {"updated_at": now.timestamp(), "ttl": {"at": now}}


def _change(status: CommandStatus, at: datetime) -> dict[str, Any]:
    """A timeline entry, keyed by its time and status: written twice, kept once."""
    key = f"{int(at.timestamp() * 1000)}-{status.value}"
    return {f"timeline.{key}": {"status": status.value, "at": at.timestamp()}}


def _run_key(run: HookRun) -> str:
    """A field name for one try of one run (no dots: a hook key has one)."""
    raw = f"{run.event_id}|{run.key}|{run.attempts}|{run.status.value}"
    return hashlib.sha256(raw.encode()).hexdigest()[:24]


def _summary(document: dict[str, Any]) -> CommandSummary:
    timeline = sorted(
        (StatusChange.model_validate(e) for e in document.get("timeline", {}).values()),
        key=lambda change: change.at,
    )
    runs = sorted(
        (HookRunRecord.model_validate(r) for r in document.get("hook_runs", {}).values()),
        key=lambda record: record.at,
    )
    fields = {k: v for k, v in document.items() if k not in ("_id", "timeline", "hook_runs", "ttl")}
    return CommandSummary.model_validate(
        {**fields, "id": document["_id"], "timeline": timeline, "hook_runs": runs}
    )
