"""The plan of every MongoDB query on a hot path, and whether it uses an index.

The queries are the ones the code makes. A short sequence of commands (``SEQUENCE``:
register, a register of a taken email, login, refresh, me, deposit, withdraw, balance,
transfer, the benchmark's probe command with the gateway's history write, logout) runs
through the modules' runtime in-process (``workers.testing.Harness``: every module and the
probe, their hooks, the history writer) on a fresh database the app's indexes were built
in, while a pymongo ``CommandListener`` notes each command sent. Every distinct query
(operation, collection, filter shape) is then explained in that database.

nx-27017 explains only ``find``; its explain of a write (update, delete, findAndModify) is
a stub (``{"stage": "EOF"}``, no namespace). Such a query's filter is explained as a
``find`` instead, and marked so. Inserts have no query to plan.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pymongo import monitoring
from pymongo.database import Database

from bench.probe import MODULE_PACKAGE, ORCHESTRATOR_PACKAGE
from bench.servers import Servers
from core.celery_app import make_celery
from events import Actor, CommandStatus, DeadLetter
from workers.bootstrap import Blueprint
from workers.bus import InProcessBus
from workers.runtime import Runtime
from workers.services import WorkerServices
from workers.testing import Harness, HarnessConfig

Document = dict[str, Any]
PLANS_DB = "hookline_bench_plans"
START = "worker start"
WATCHED = frozenset({"find", "update", "delete", "findAndModify", "insert", "aggregate", "count"})
INDEX_STAGES = frozenset(
    {"IXSCAN", "IDHACK", "EXPRESS_IXSCAN", "EXPRESS_IDHACK", "COUNT_SCAN", "DISTINCT_SCAN"}
)
_SQLITE_INDEX = ("USING INDEX", "USING COVERING INDEX", "USING PRIMARY KEY", "USING INTEGER")
_EXPLAINED_FIELDS = {
    "find": ("filter", "sort", "projection", "limit"),
    "findAndModify": ("query", "sort", "update", "remove", "upsert", "new", "fields"),
    "aggregate": ("pipeline", "cursor"),
    "count": ("query",),
}


@dataclass(frozen=True)
class Query:
    """One query a command sent: the explainable command and its filter."""

    operation: str
    collection: str
    filter: Document
    explainable: Document

    @property
    def shape(self) -> str:
        """The filter with every value read as ``?``: what tells two queries apart."""
        return json.dumps(_shape(self.filter), sort_keys=True)


@dataclass(frozen=True)
class Plan:
    query: Query
    steps: tuple[str, ...]
    count: int
    verdict: str  # index, SCAN, no query (an insert), ? (a plan not understood)
    stub: bool = False
    detail: str = ""

    @property
    def hot(self) -> bool:
        return self.steps != (START,)

    def as_json(self) -> dict[str, Any]:
        return {
            "operation": self.query.operation,
            "collection": self.query.collection,
            "filter": self.query.shape,
            "steps": list(self.steps),
            "count": self.count,
            "verdict": self.verdict,
            "explain_stub": self.stub,
            "plan": self.detail,
        }


# -- capture --------------------------------------------------------------------------------


class _Recorder(monitoring.CommandListener):
    """Every watched command sent to ``database`` while a ``step`` is set, with the step."""

    def __init__(self) -> None:
        self.database: str | None = None
        self.step: str | None = None
        self.seen: list[tuple[str, Document]] = []
        self._lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.step is None or event.database_name != self.database:
            return
        if event.command_name in WATCHED:
            with self._lock:
                self.seen.append((self.step, dict(event.command)))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Nothing to note."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Nothing to note: a failed query was still sent."""


_RECORDER = _Recorder()
monitoring.register(_RECORDER)  # every client made from now on reports to it


def queries_in(command: Document) -> list[Query]:
    """The queries of one command as sent (a bulk write's ``update`` holds many)."""
    operation = next(iter(command))
    collection = str(command[operation])
    if operation in ("update", "delete"):
        statements = command[f"{operation}s"]
        return [
            Query(operation, collection, s["q"], {operation: collection, f"{operation}s": [s]})
            for s in statements
        ]
    if operation == "insert":
        return [Query(operation, collection, {}, {})]
    fields = _EXPLAINED_FIELDS[operation]
    explainable = {operation: collection, **{f: command[f] for f in fields if f in command}}
    return [Query(operation, collection, _filter_of(operation, command), explainable)]


def _filter_of(operation: str, command: Document) -> Document:
    if operation == "aggregate":
        stages = command.get("pipeline", [])
        first = stages[0] if stages else {}
        return dict(first.get("$match", {}))
    return dict(command.get("filter" if operation == "find" else "query") or {})


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        shapes = [_shape(v) for v in value]
        return shapes if len({json.dumps(s, sort_keys=True) for s in shapes}) > 1 else shapes[:1]
    return "?"


# -- the sequence ---------------------------------------------------------------------------

ALICE = {"email": "alice@example.com", "username": "alice", "password": "correct horse"}
BOB = {"email": "bob@example.com", "username": "bob", "password": "battery staple"}


@dataclass
class _Caller:
    harness: Harness
    user_id: str = ""
    refresh_token: str = ""

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.user_id, roles=("user",))

    def submit(self, name: str, payload: Document | None = None) -> Any:
        return self.harness.submit(name, payload, actor=self.actor).body

    def register(self) -> None:
        """Alice, the caller from now on, and Bob, to transfer to."""
        users = [self.harness.submit("user_management.register", who) for who in (ALICE, BOB)]
        self.user_id = str(users[0].body["user_id"])

    def login(self) -> None:
        login = {"email": ALICE["email"], "password": ALICE["password"]}
        self.refresh_token = self.harness.submit("user_management.login", login).body[
            "refresh_token"
        ]

    def probe(self) -> None:
        """The probe command, and the history write its gateway makes at acceptance."""
        run = self.harness.submit("probe.work", {"value": 1}, actor=self.actor)
        self.harness.services.history_writes.accepted(run.command, CommandStatus.ACCEPTED)


SEQUENCE: tuple[tuple[str, Callable[[_Caller], object]], ...] = (
    ("register", lambda c: c.register()),
    ("register, email taken", lambda c: c.harness.submit("user_management.register", _taken())),
    ("login", lambda c: c.login()),
    ("refresh", lambda c: c.submit("user_management.refresh", {"refresh_token": c.refresh_token})),
    ("me", lambda c: c.submit("user_management.me")),
    ("deposit", lambda c: c.submit("wallet.deposit", {"amount": 50})),
    ("withdraw", lambda c: c.submit("wallet.withdraw", {"amount": 20})),
    ("balance", lambda c: c.submit("wallet.balance")),
    ("transfer", lambda c: c.submit("transactions.transfer", {"to_username": "bob", "amount": 5})),
    ("probe", lambda c: c.probe()),
    ("logout", lambda c: c.submit("user_management.logout")),
)


def _taken() -> Document:
    return {**ALICE, "username": "alice2"}


class _Harness(Harness):
    def dead_letters_of(self, command_id: str) -> tuple[DeadLetter, ...]:
        """None: the harness's own read of a command's dead letters is no query of the app's."""
        return ()


def start_harness(config: HarnessConfig) -> Harness:
    """``Harness.start`` for every module and the benchmark's probe (outside ``modules``)."""
    config.write_secrets()
    settings = config.settings(()).model_copy(
        update={
            "modules": None,
            "module_packages": ("modules", MODULE_PACKAGE),
            "orchestrator_packages": ("workers.orchestrators", ORCHESTRATOR_PACKAGE),
        }
    )
    blueprint = Blueprint.from_settings(settings)
    bus = InProcessBus()
    celery = make_celery(settings, blueprint.queues)
    services = replace(WorkerServices.build(settings, celery, blueprint.roles), bus=bus)
    ordered = {name: blueprint.classes[name] for name in blueprint.order}
    return _Harness(Runtime(ordered, blueprint.catalogue, services), bus)


def record_sequence(config: HarnessConfig) -> tuple[Harness, list[tuple[str, Document]]]:
    """Run the sequence; the harness (still open, to explain in) and what it sent."""
    _RECORDER.database, _RECORDER.step, _RECORDER.seen = config.database, START, []
    harness = start_harness(config)
    try:
        caller = _Caller(harness)
        for step, run in SEQUENCE:
            _RECORDER.step = step
            run(caller)
            harness.services.history_writes.flush()
    except BaseException:
        harness.close()
        raise
    finally:
        _RECORDER.step = None
    return harness, list(_RECORDER.seen)


# -- explain --------------------------------------------------------------------------------


def explain(db: Database[Document], query: Query) -> tuple[str, bool, str]:
    """The verdict, whether the server's explain was a stub, and the plan in short."""
    if query.operation == "insert":
        return "no query", False, ""
    answer = db.command("explain", query.explainable, verbosity="queryPlanner")
    stub = query.operation != "find" and _is_stub(answer)
    if stub:
        answer = db.command(
            "explain", {"find": query.collection, "filter": query.filter}, verbosity="queryPlanner"
        )
    steps = list(_steps(answer.get("queryPlanner", {}).get("winningPlan", {})))
    return verdict(steps), stub, "; ".join(steps)


def _is_stub(answer: Document) -> bool:
    planner = answer.get("queryPlanner", {})
    return "namespace" not in planner and planner.get("winningPlan") == {"stage": "EOF"}


def _steps(plan: Any) -> Iterator[str]:
    """Every stage (MongoDB) and plan line (nx-27017: SQLite's EXPLAIN QUERY PLAN)."""
    if isinstance(plan, list):
        for part in plan:
            yield from _steps(part)
    elif isinstance(plan, dict):
        for name in ("stage", "detail"):
            if isinstance(plan.get(name), str):
                yield plan[name]
        for key, value in plan.items():
            if key not in ("stage", "detail") and isinstance(value, dict | list):
                yield from _steps(value)


def verdict(steps: list[str]) -> str:
    def scans(step: str) -> bool:
        return step == "COLLSCAN" or (step.startswith("SCAN ") and "json_each" not in step)

    if any(scans(step) for step in steps):
        return "SCAN"
    if any(s in INDEX_STAGES or any(m in s for m in _SQLITE_INDEX) for s in steps):
        return "index"
    return "?"


def plans(servers: Servers, work_dir: Path) -> list[Plan]:
    """Every distinct query of the sequence (and of the worker's start), explained."""
    config = HarnessConfig(servers.redis_url, servers.mongo_url, PLANS_DB, work_dir / "plans")
    harness, seen = record_sequence(config)
    try:
        grouped: dict[tuple[str, str, str], list[tuple[str, Query]]] = {}
        for step, command in seen:
            for query in queries_in(command):
                key = (query.operation, query.collection, query.shape)
                grouped.setdefault(key, []).append((step, query))
        found = []
        for group in grouped.values():
            steps = tuple(dict.fromkeys(step for step, _ in group))
            query = group[0][1]
            found.append(Plan(query, steps, len(group), *explain(harness.services.db, query)))
    finally:
        harness.close()
    return sorted(found, key=lambda p: (not p.hot, p.query.collection, p.query.operation))
