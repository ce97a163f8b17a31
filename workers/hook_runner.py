"""Running an event's hooks: in priority order, each to completion once.

A hook that raises is isolated: the hooks after it still run (unless it is
critical), and it alone is tried again later by the ``hookline.hook`` task, as
the retry policy says. After its last try a dead letter records the event, the
hook, the error and the number of tries. Each try is a record in the command's
hook trace. Completion is recorded per run (``events.hook_run_id``: event id and
hook key), so a redelivered event, a retry or a replay never runs a completed
hook again.

Exactly once, at any crash: the handler's writes are keyed by its run id (the
rule for module authors, ``docs/modules.md``), so a worker that dies after the
effects and before the completion record only costs a second run that changes
nothing. The completion record carries the run's trace record, and a
completion goes into the trace once per run (a Redis set guards it): a worker
that dies after the record and before the trace leaves it to whoever finds the
record next.

The command's ``pending`` set holds what is still to run: the event id until
its first pass ends, and ``<event id>/<hook key>`` while a hook waits for a
retry, so a client waiting on the command sees it settle only when every hook
has succeeded or been given up on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from pymongo.errors import PyMongoError

from core import tracing
from core.failpoints import failpoint
from events import (
    Event,
    EventCatalogue,
    HookRegistry,
    HookRun,
    HookRunStatus,
    RegisteredHook,
    hook_run_id,
)
from events.hooks import received
from workers.context import HookContext
from workers.failures import Failures, describe
from workers.metrics import observe_hook_run
from workers.retry import RetryDecision
from workers.services import WorkerServices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HookTry:
    """One try of one hook on one event."""

    event: Event
    hook: RegisteredHook
    attempt: int = 1
    replay_of: str | None = None

    @property
    def is_first(self) -> bool:
        return self.attempt == 1 and self.replay_of is None


def pending_member(event_id: str, hook_key: str) -> str:
    """What the command's pending set holds while a hook waits for its retry: the run id."""
    return hook_run_id(event_id, hook_key)


class UnknownHook(LookupError):
    """A retry or replay names a hook that this worker does not register for the event."""


class HookRunner:
    def __init__(
        self,
        hooks: HookRegistry,
        catalogue: EventCatalogue,
        services: WorkerServices,
        failures: Failures,
    ) -> None:
        self.hooks = hooks
        self.catalogue = catalogue
        self.services = services
        self.failures = failures

    def run_event(self, event: Event) -> None:
        """The first pass: every hook in order, skipping the ones that completed before."""
        self._run_in_order(event, self.hooks.hooks_for(event.name))
        self.services.state.settle(event.command_id, event.id)

    def run_hook(
        self, event: Event, hook_key: str, attempt: int, replay_of: str | None = None
    ) -> HookRunStatus:
        """A retry or a replay of one hook; a critical hook that succeeds lets the rest run."""
        hooks = self.hooks.hooks_for(event.name)
        position = next((i for i, h in enumerate(hooks) if h.key == hook_key), None)
        if position is None:
            raise UnknownHook(f"no hook {hook_key!r} is registered for {event.name!r}")
        hook = hooks[position]
        status = self._try(HookTry(event, hook, attempt, replay_of))
        completed = status in (HookRunStatus.SUCCEEDED, HookRunStatus.SKIPPED)
        if completed and hook.critical:
            self._run_in_order(event, hooks[position + 1 :])
        if completed and replay_of is not None:
            self.services.dead_letters.resolve(replay_of)
        if status is not HookRunStatus.FAILED:  # nothing more is scheduled for this hook
            self.services.state.settle(event.command_id, pending_member(event.id, hook_key))
        return status

    def _run_in_order(self, event: Event, hooks: tuple[RegisteredHook, ...]) -> None:
        """Each hook in turn; which completed on an earlier delivery is read once for all."""
        done = self._completions(event, hooks)
        for hook in hooks:
            status = self._try(HookTry(event, hook), done)
            if hook.critical and status in (HookRunStatus.FAILED, HookRunStatus.DEAD):
                log.error(
                    "critical hook %s failed; later hooks for %s wait for it", hook.key, event.id
                )
                return

    def _completions(
        self, event: Event, hooks: tuple[RegisteredHook, ...]
    ) -> Mapping[str, HookRun] | None:
        """The event's completed runs, read in one query; None when the read failed, so
        each hook reads its own inside its isolation boundary, and fails alone."""
        try:
            return self.services.hook_runs.completions(event.id, [hook.key for hook in hooks])
        except PyMongoError:
            log.warning("could not read the completed hooks of %s; reading each", event.id)
            return None

    def _try(self, attempt: HookTry, done: Mapping[str, HookRun] | None = None) -> HookRunStatus:
        """Run the hook unless it completed before (in ``done``, when the caller read the
        event's completions); on failure, retry later or bury it."""
        event, hook = attempt.event, attempt.hook
        started = time.perf_counter()
        try:
            completion = (
                done.get(hook.key)
                if done is not None
                else self.services.hook_runs.completion(event.id, hook.key)
            )
            status = HookRunStatus.SKIPPED
            if completion is None:
                completion = self._complete(attempt, started)
                status = HookRunStatus.SUCCEEDED
            self._trace_completion(event, hook, completion)
        except Exception as e:  # isolation boundary: one hook must not stop the others
            log.exception("hook %s failed on %s (try %d)", hook.key, event.id, attempt.attempt)
            return self._failed(attempt, e, started)
        if status is HookRunStatus.SKIPPED and not attempt.is_first:
            self._record(attempt, started, status)
        return status

    def _complete(self, attempt: HookTry, started: float) -> HookRun:
        """Run the hook and record its completion; the trace record it carries is returned."""
        event, hook = attempt.event, attempt.hook
        attributes = {
            "hookline.event": event.name,
            "hookline.event_id": event.id,
            "hookline.attempt": attempt.attempt,
            "hookline.priority": hook.priority,
        }
        with tracing.span(f"hook {hook.key}", parent=event.traceparent, attributes=attributes):
            self._call(attempt)
        run = self._run_record(attempt, started, HookRunStatus.SUCCEEDED)
        self.services.hook_runs.mark_done(attempt.event.id, attempt.hook.key, run)
        failpoint("hooks.after_mark")
        return run

    def _call(self, attempt: HookTry) -> None:
        """The handler, then the events it emitted (marked pending first, then published)."""
        event, hook = attempt.event, attempt.hook
        ctx = HookContext.for_hook(
            event, hook.key, self.catalogue, self.services.settings.max_event_depth
        )
        hook.handler(received(self.catalogue, event), ctx)
        failpoint("hooks.after_effect")
        self.services.state.expect_events(event.command_id, [e.id for e in ctx.events])
        self.services.bus.publish(ctx.events)

    def _trace_completion(self, event: Event, hook: RegisteredHook, run: HookRun) -> None:
        """Put a completion in the command's trace, once per run whoever gets here first."""
        once = hook_run_id(event.id, hook.key)
        if self.services.state.record_hook_run(event.command_id, run, once=once):
            observe_hook_run(run)

    def _failed(self, attempt: HookTry, error: Exception, started: float) -> HookRunStatus:
        event, key = attempt.event, attempt.hook.key
        decision = self.failures.hook_failed(event, key, error, attempt.attempt)
        if decision.retry:
            self._schedule(attempt, decision)
        status = HookRunStatus.FAILED if decision.retry else HookRunStatus.DEAD
        self._record(attempt, started, status, describe(error))
        return status

    def _schedule(self, attempt: HookTry, decision: RetryDecision) -> None:
        event, key = attempt.event, attempt.hook.key
        self.services.state.expect_events(event.command_id, [pending_member(event.id, key)])
        self.services.bus.retry_hook(
            event, key, decision.next_attempt, decision.countdown_s, attempt.replay_of
        )

    def _record(
        self, attempt: HookTry, started: float, status: HookRunStatus, error: str | None = None
    ) -> None:
        """Append a try that did not complete the hook (failed, dead, skipped) to the trace."""
        run = self._run_record(attempt, started, status, error)
        self.services.state.record_hook_run(attempt.event.command_id, run)
        observe_hook_run(run)

    @staticmethod
    def _run_record(
        attempt: HookTry, started: float, status: HookRunStatus, error: str | None = None
    ) -> HookRun:
        event, hook = attempt.event, attempt.hook
        return HookRun(
            event=event.name,
            event_id=event.id,
            module=hook.module,
            handler=hook.handler_name,
            priority=hook.priority,
            status=status,
            attempts=attempt.attempt,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
            error=error,
        )
