"""The hook runner: order, isolation, per-hook retries, critical hooks, dead letters, replays.

The stores and the bus are in-memory fakes; the registry, the retry policy and
the runner are the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from pydantic import BaseModel

from core.settings import Settings
from events import (
    DeadLetter,
    DeadLetterKind,
    Event,
    EventCatalogue,
    EventSink,
    EventSpec,
    FailureKind,
    HookRegistry,
    HookRun,
    HookRunStatus,
    HookSink,
    Received,
    hook_run_id,
)
from workers.failures import Failures
from workers.hook_runner import HookRunner, pending_member
from workers.retry import RetryPolicy
from workers.services import WorkerServices

S = HookRunStatus


class Payload(BaseModel):
    n: int = 0


@dataclass
class FakeState:
    pending: set[str] = field(default_factory=set)
    settled: list[str] = field(default_factory=list)
    trace: list[HookRun] = field(default_factory=list)
    traced_once: set[str] = field(default_factory=set)

    def expect_events(self, command_id: str, ids: list[str]) -> None:
        self.pending.update(ids)

    def settle(self, command_id: str, member: str) -> None:
        self.pending.discard(member)
        self.settled.append(member)

    def record_hook_run(self, command_id: str, run: HookRun, once: str = "") -> bool:
        if once and once in self.traced_once:
            return False
        if once:
            self.traced_once.add(once)
        self.trace.append(run)
        return True


@dataclass
class FakeLedger:
    done: dict[tuple[str, str], HookRun] = field(default_factory=dict)

    def completion(self, event_id: str, key: str) -> HookRun | None:
        return self.done.get((event_id, key))

    def completions(self, event_id: str, keys: list[str]) -> dict[str, HookRun]:
        return {key: self.done[event_id, key] for key in keys if (event_id, key) in self.done}

    def mark_done(self, event_id: str, key: str, run: HookRun) -> None:
        self.done.setdefault((event_id, key), run)


@dataclass
class FakeBus:
    retries: list[tuple[str, int, str | None]] = field(default_factory=list)

    def publish(self, events: list[Event]) -> None:
        """Follow-up events are not under test here."""

    def retry_hook(
        self, event: Event, key: str, attempt: int, countdown_s: float, replay_of: str | None
    ) -> None:
        self.retries.append((key, attempt, replay_of))


@dataclass
class FakeLetters:
    buried: list[DeadLetter] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)

    def bury(self, letter: DeadLetter) -> None:
        self.buried.append(letter)

    def resolve(self, letter_id: str) -> None:
        self.resolved.append(letter_id)


@dataclass
class FakeServices:
    settings: Settings = field(default_factory=Settings)
    state: FakeState = field(default_factory=FakeState)
    hook_runs: FakeLedger = field(default_factory=FakeLedger)
    bus: FakeBus = field(default_factory=FakeBus)
    dead_letters: FakeLetters = field(default_factory=FakeLetters)


class Hooks:
    """Handlers that record their calls; ``failing`` ones raise."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.failing: set[str] = set()

    def handler(self, name: str) -> Any:
        def handle(event: Received[Payload], sink: EventSink) -> None:
            self.calls.append(name)
            if name in self.failing:
                raise TypeError(f"{name} is broken")

        return handle


EVENT = Event(id="e1", name="thing_done", correlation_id="c", causation_id="c", command_id="c1")
POLICY = RetryPolicy(transient_retries=4, poison_retries=2, backoff_base_s=1, backoff_max_s=2)


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def services() -> FakeServices:
    return FakeServices()


def runner(hooks: Hooks, services: FakeServices, critical: str | None = None) -> HookRunner:
    """Three hooks on ``thing_done``: first (priority 1), second (2), third (3)."""
    catalogue = EventCatalogue((EventSpec("thing_done", Payload),))
    registry = HookRegistry(catalogue)
    for priority, name in enumerate(("first", "second", "third"), start=1):
        registry.register(
            "thing_done",
            hooks.handler(name),
            module=name,
            handler_name="on_it",
            priority=priority,
            critical=name == critical,
        )
    real = cast(WorkerServices, services)
    return HookRunner(registry, catalogue, real, Failures(real, POLICY))


def test_a_failing_hook_does_not_stop_the_hooks_after_it(
    hooks: Hooks, services: FakeServices
) -> None:
    """second fails: third still runs, second alone is scheduled for try 2, event waits for it."""
    hooks.failing.add("second")
    runner(hooks, services).run_event(EVENT)
    assert hooks.calls == ["first", "second", "third"]
    assert services.bus.retries == [("second.on_it", 2, None)]
    assert [(r.module, r.status, r.attempts) for r in services.state.trace] == [
        ("first", S.SUCCEEDED, 1),
        ("second", S.FAILED, 1),
        ("third", S.SUCCEEDED, 1),
    ]
    assert services.state.pending == {pending_member("e1", "second.on_it")}


def test_a_failing_critical_hook_holds_back_the_later_ones_until_its_retry_succeeds(
    hooks: Hooks, services: FakeServices
) -> None:
    """Critical second fails: third waits; second's successful retry then runs third."""
    hooks.failing.add("second")
    run = runner(hooks, services, critical="second")
    run.run_event(EVENT)
    assert hooks.calls == ["first", "second"]
    hooks.failing.clear()
    assert run.run_hook(EVENT, "second.on_it", attempt=2) is S.SUCCEEDED
    assert hooks.calls == ["first", "second", "second", "third"]
    assert services.state.pending == set()


def test_after_the_last_try_a_dead_letter_records_event_hook_error_and_tries(
    hooks: Hooks, services: FakeServices
) -> None:
    """Poison gets retries + 1 = 3 tries; the third buries it and the event settles."""
    hooks.failing.add("second")
    run = runner(hooks, services)
    run.run_event(EVENT)
    assert run.run_hook(EVENT, "second.on_it", attempt=2) is S.FAILED
    assert run.run_hook(EVENT, "second.on_it", attempt=3) is S.DEAD
    [letter] = services.dead_letters.buried
    assert (letter.kind, letter.hook, letter.attempts) == (DeadLetterKind.HOOK, "second.on_it", 3)
    assert letter.failure is FailureKind.POISON and "TypeError: second is broken" in letter.error
    assert letter.envelope["id"] == "e1" and letter.command_id == "c1"
    assert [r.status for r in services.state.trace if r.module == "second"] == [
        S.FAILED,
        S.FAILED,
        S.DEAD,
    ]
    assert services.state.pending == set()
    assert hooks.calls.count("third") == 1


def test_a_replay_runs_the_hook_alone_and_resolves_its_letter(
    hooks: Hooks, services: FakeServices
) -> None:
    """Replaying second runs second only, then marks the letter resolved."""
    run = runner(hooks, services)
    letter_id = DeadLetter.hook_letter_id("e1", "second.on_it")
    assert run.run_hook(EVENT, "second.on_it", attempt=1, replay_of=letter_id) is S.SUCCEEDED
    assert hooks.calls == ["second"]
    assert services.dead_letters.resolved == [letter_id]


def completed_before(services: FakeServices, module: str, traced: bool = True) -> HookRun:
    """Record ``module.on_it`` on e1 as completed by an earlier run (and traced, unless not)."""
    run = HookRun(
        event="thing_done",
        event_id="e1",
        module=module,
        handler="on_it",
        priority=1,
        status=S.SUCCEEDED,
        attempts=1,
        duration_ms=1.0,
    )
    services.hook_runs.done[("e1", f"{module}.on_it")] = run
    if traced:
        services.state.record_hook_run("c1", run, once=hook_run_id("e1", f"{module}.on_it"))
    return run


def test_a_replay_skips_a_hook_that_completed_since(hooks: Hooks, services: FakeServices) -> None:
    """A completed hook is not run again; the trace says the replay skipped it."""
    completed_before(services, "second")
    run = runner(hooks, services)
    assert run.run_hook(EVENT, "second.on_it", attempt=1, replay_of="x") is S.SKIPPED
    assert hooks.calls == []
    assert [r.status for r in services.state.trace] == [S.SUCCEEDED, S.SKIPPED]


def test_a_redelivered_event_runs_only_what_did_not_complete(
    hooks: Hooks, services: FakeServices
) -> None:
    """first completed before: the event runs second and third only, and records no skip."""
    completed_before(services, "first")
    runner(hooks, services).run_event(EVENT)
    assert hooks.calls == ["second", "third"]
    assert [(r.module, r.status) for r in services.state.trace] == [
        ("first", S.SUCCEEDED),
        ("second", S.SUCCEEDED),
        ("third", S.SUCCEEDED),
    ]


def test_a_completion_whose_worker_died_before_tracing_it_is_traced_once_by_the_next(
    hooks: Hooks, services: FakeServices
) -> None:
    """Completed but not traced (a crash between the two): the next delivery traces the
    stored record without running the hook, and a delivery after that adds nothing."""
    stored = completed_before(services, "first", traced=False)
    run = runner(hooks, services)
    run.run_event(EVENT)
    run.run_event(EVENT)
    assert hooks.calls == ["second", "third"]
    assert [r.module for r in services.state.trace] == ["first", "second", "third"]
    assert services.state.trace[0] == stored


def test_each_completion_is_recorded_with_its_trace_record(
    hooks: Hooks, services: FakeServices
) -> None:
    """The completion record holds the very record the trace shows."""
    runner(hooks, services).run_event(EVENT)
    assert list(services.hook_runs.done.values()) == services.state.trace


def test_every_try_and_delivery_of_a_hook_gets_the_same_run_id(services: FakeServices) -> None:
    """The handler's run id is the event id and hook key, on a first pass and on a retry."""
    seen: list[str] = []

    def handle(event: Received[Payload], sink: HookSink) -> None:
        seen.append(sink.run_id)
        if len(seen) == 1:
            raise TypeError("the first try fails")

    catalogue = EventCatalogue((EventSpec("thing_done", Payload),))
    registry = HookRegistry(catalogue)
    registry.register("thing_done", handle, module="only", handler_name="on_it")
    real = cast(WorkerServices, services)
    run = HookRunner(registry, catalogue, real, Failures(real, POLICY))
    run.run_event(EVENT)
    assert run.run_hook(EVENT, "only.on_it", attempt=2) is S.SUCCEEDED
    assert seen == [hook_run_id("e1", "only.on_it")] * 2 == ["e1/only.on_it"] * 2
    assert pending_member("e1", "only.on_it") == seen[0]
