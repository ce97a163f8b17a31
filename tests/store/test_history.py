"""The command history against the MongoDB-protocol server: its indexes (the retention a
TTL index), writes repeated or out of order, the console's filters and pages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pymongo import MongoClient, monitoring
from pymongo.database import Database

from core.history import COLLECTION, TTL_FIELD, HistoryQuery, HistoryRecorder, HistoryStore
from events import Actor, Command, CommandStatus, HookRunStatus, utc_now
from tests.stack_fixtures import Servers
from tests.store.records import hook_run as run

Doc = dict[str, Any]
RETENTION_S = 3600


def command(name: str = "wallet.deposit", user: str = "u1") -> Command:
    return Command(name=name, payload={}, actor=Actor(user_id=user))


def ttl_of(db: Database[Doc]) -> int | None:
    for index in db[COLLECTION].index_information().values():
        if dict(index["key"]) == {TTL_FIELD: 1}:
            return int(index["expireAfterSeconds"])
    return None


def test_the_retention_is_a_ttl_index_and_each_filter_has_an_index(mongo_db: Database[Doc]) -> None:
    HistoryStore(mongo_db, RETENTION_S).ensure_indexes()
    assert ttl_of(mongo_db) == RETENTION_S
    keys = [list(dict(i["key"])) for i in mongo_db[COLLECTION].index_information().values()]
    for field in ("name", "status", "owner"):
        assert [field, "created_at"] in keys
    HistoryStore(mongo_db, 2 * RETENTION_S).ensure_indexes()  # a new setting moves it
    assert ttl_of(mongo_db) == 2 * RETENTION_S


def test_a_summary_gathers_both_sides_writes_in_any_order(mongo_db: Database[Doc]) -> None:
    store = HistoryStore(mongo_db, RETENTION_S)
    cmd = command()
    store.write(store.status_ops(cmd.id, CommandStatus.RUNNING, started=True, error=None))
    store.write(store.status_ops(cmd.id, CommandStatus.SUCCEEDED, started=False, error=None))
    store.write(store.accepted_ops(cmd, CommandStatus.ACCEPTED))  # the gateway's write landing last
    found = store.get(cmd.id)
    assert found is not None
    assert found.status is CommandStatus.SUCCEEDED  # a late write does not move it back
    assert (found.name, found.owner, found.attempts) == ("wallet.deposit", "user:u1", 1)
    assert found.finished_at is not None and found.started_at is not None
    assert {c.status for c in found.timeline} == {"accepted", "running", "succeeded"}


def test_hook_runs_are_kept_once_per_try_in_order(mongo_db: Database[Doc]) -> None:
    store = HistoryStore(mongo_db, RETENTION_S)
    cmd = command()
    store.write(store.accepted_ops(cmd, CommandStatus.ACCEPTED))
    for record in (
        run("notifications.notify", HookRunStatus.FAILED),
        run("notifications.notify", attempts=2),
        run("notifications.notify", attempts=2),  # traced twice: kept once
        run("audit.record"),
    ):
        store.write(store.hook_run_ops(cmd.id, record))
    found = store.get(cmd.id)
    assert found is not None
    assert [(r.run.key, r.run.attempts) for r in found.hook_runs] == [
        ("notifications.notify", 1),
        ("notifications.notify", 2),
        ("audit.record", 1),
    ]
    assert found.hook_failures == 1


def test_filters_and_pages(mongo_db: Database[Doc]) -> None:
    store = HistoryStore(mongo_db, RETENTION_S)
    made = [command(user=f"u{n % 2}") for n in range(5)]
    for cmd in made:
        store.write(store.accepted_ops(cmd, CommandStatus.ACCEPTED))
    store.write(store.status_ops(made[0].id, CommandStatus.FAILED, started=False, error="Bad: no"))
    store.write(
        store.accepted_ops(command(name="user_management.login", user="u9"), CommandStatus.ACCEPTED)
    )
    deposits = store.find(HistoryQuery(name="wallet.deposit", limit=2))
    assert [c.id for c in deposits.items] == [made[4].id, made[3].id]  # newest first
    assert deposits.has_more
    last = store.find(HistoryQuery(name="wallet.deposit", limit=2, page=3))
    assert [c.id for c in last.items] == [made[0].id] and not last.has_more
    failed = store.find(HistoryQuery(status=CommandStatus.FAILED))
    assert [(c.id, c.error) for c in failed.items] == [(made[0].id, "Bad: no")]
    owned = store.find(HistoryQuery(owner="user:u1"))
    assert {c.id for c in owned.items} == {made[1].id, made[3].id}
    later = store.find(HistoryQuery(since=made[3].submitted_at))
    assert made[3].id in [c.id for c in later.items] and made[2].id not in [
        c.id for c in later.items
    ]
    assert store.find(HistoryQuery(until=made[0].submitted_at - timedelta(seconds=1))).items == []
    assert store.outcomes_per_minute(5)
    assert sum(c["failed"] for c in store.outcomes_per_minute(5).values()) == 1


class _Updates(monitoring.CommandListener):
    """How many update commands went to the server (round trips of writes)."""

    def __init__(self) -> None:
        self.sent = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.sent += event.command_name == "update"

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_the_recorder_writes_what_queued_up_in_one_bulk_and_keeps_each_summary_right(
    mongo_db: Database[Doc], servers: Servers
) -> None:
    """Writes of many commands queued while the thread is busy land in few round trips, and
    each summary still ends at its latest change, whatever order its writers' changes came
    in (here, as a worker's start and end can land before the gateway's acceptance)."""
    updates = _Updates()
    client: MongoClient[Doc] = MongoClient(servers.mongo_url, event_listeners=[updates])
    recorder = HistoryRecorder(HistoryStore(client[mongo_db.name], RETENTION_S))
    made = [command(user=f"u{n}") for n in range(40)]
    for cmd in made:
        recorder.status(cmd.id, CommandStatus.RUNNING, started=True)
        recorder.status(cmd.id, CommandStatus.SUCCEEDED)
        recorder.accepted(cmd, CommandStatus.ACCEPTED, cmd.submitted_at)
        recorder.hook_run(cmd.id, run("audit.record"))
    recorder.close()
    client.close()
    store = HistoryStore(mongo_db, RETENTION_S)
    for cmd in made:
        found = store.get(cmd.id)
        assert found is not None
        assert (found.status, found.attempts, len(found.hook_runs)) == (
            CommandStatus.SUCCEEDED,
            1,
            1,
        )
        assert {c.status for c in found.timeline} == {"accepted", "running", "succeeded"}
    # 160 writes; queueing one takes microseconds, a round trip about a millisecond.
    assert updates.sent < len(made), f"{updates.sent} round trips for {4 * len(made)} writes"


def test_a_failed_write_is_logged_never_raised(caplog: Any) -> None:
    unreachable: MongoClient[Doc] = MongoClient(
        "mongodb://127.0.0.1:9", serverSelectionTimeoutMS=200, connectTimeoutMS=200
    )
    recorder = HistoryRecorder(HistoryStore(unreachable["nowhere"], RETENTION_S))
    recorder.status("c1", CommandStatus.RUNNING, started=True)
    recorder.accepted(command(), CommandStatus.ACCEPTED)
    recorder.hook_run("c1", run("audit.record"))  # queued: the caller does not wait
    recorder.flush()
    unreachable.close()
    assert sum("was not recorded" in r.getMessage() for r in caplog.records) == 3
    assert utc_now()  # nothing raised
