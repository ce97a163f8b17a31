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

    def expect_events(self, command_id: str, ids: list[str]) -> None:
        self.pending.update(ids)

    def settle(self, command_id: str, member: str) -> None:
        self.pending.discard(member)
        self.settled.append(member)

    def record_hook_run(self, command_id: str, run: HookRun) -> None:
        self.trace.append(run)


@dataclass
class FakeLedger:
    done: set[tuple[str, str]] = field(default_factory=set)

    def is_done(self, event_id: str, key: str) -> bool:
        return (event_id, key) in self.done

    def mark_done(self, event_id: str, key: str) -> None:
        self.done.add((event_id, key))


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
        def handle(event: Event, sink: EventSink) -> None:
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


def test_a_replay_skips_a_hook_that_completed_since(hooks: Hooks, services: FakeServices) -> None:
    """A completed hook is not run again; the trace says it was skipped."""
    services.hook_runs.done.add(("e1", "second.on_it"))
    run = runner(hooks, services)
    assert run.run_hook(EVENT, "second.on_it", attempt=1, replay_of="x") is S.SKIPPED
    assert hooks.calls == []
    assert [r.status for r in services.state.trace] == [S.SKIPPED]


def test_a_redelivered_event_runs_only_what_did_not_complete(
    hooks: Hooks, services: FakeServices
) -> None:
    """first completed before: the event runs second and third only, and records no skip."""
    services.hook_runs.done.add(("e1", "first.on_it"))
    runner(hooks, services).run_event(EVENT)
    assert hooks.calls == ["second", "third"]
    assert [r.module for r in services.state.trace] == ["second", "third"]
