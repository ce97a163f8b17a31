"""After a try failed: the retry policy decides, and the last failure becomes a dead letter.

The task wrappers in ``workers.tasks`` and the hook runner call this; nothing
else decides about retries. When a dead letter cannot be written because its
store is down, the work is tried again later instead: it is never dropped.
"""

from __future__ import annotations

import logging

import redis

from events import (
    Command,
    CommandStatus,
    DeadLetter,
    DeadLetterKind,
    Event,
    HooklineError,
    InvalidTransition,
    Problem,
    utc_now,
)
from workers.retry import TRANSIENT_ERRORS, RetryDecision, RetryPolicy
from workers.services import WorkerServices

log = logging.getLogger(__name__)


class Internal(HooklineError):
    """What a client sees of an unexpected failure: no internals leak."""


def describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


class Failures:
    def __init__(self, services: WorkerServices, policy: RetryPolicy) -> None:
        self.services = services
        self.policy = policy

    def command_failed(self, command: Command, error: Exception, attempt: int) -> RetryDecision:
        """Mark the command retrying, or bury it and mark it dead."""
        decision = self.policy.decide(error, attempt)
        extra = {"command_id": command.id, "attempt": attempt, "failure": decision.failure}
        if decision.retry:
            log.warning("command %s failed, retrying", command.id, exc_info=error, extra=extra)
            self._mark_retrying(command.id, describe(error))
            return decision
        letter = _command_letter(command, error, decision)
        if not self._bury(letter):
            return self._later(decision)
        problem = Problem.from_error(
            Internal("the command failed after every retry"), f"/commands/{command.id}"
        )
        self.services.state.fail(command.id, problem, CommandStatus.DEAD)
        return decision

    def event_failed(self, event: Event, error: Exception, attempt: int) -> RetryDecision:
        """An event task could not dispatch (a store or the broker down): again, or bury it."""
        decision = self.policy.decide(error, attempt)
        log.warning("event %s could not be dispatched", event.id, exc_info=error)
        if decision.retry:
            return decision
        letter = _event_letter(
            DeadLetter.event_letter_id(event.id),
            DeadLetterKind.EVENT,
            event=event,
            error=error,
            decision=decision,
        )
        if not self._bury(letter):
            return self._later(decision)
        self.services.state.settle(event.command_id, event.id)
        return decision

    def hook_failed(
        self, event: Event, hook_key: str, error: Exception, attempt: int
    ) -> RetryDecision:
        """A hook's try failed (the hook or its bookkeeping): again, or bury it."""
        decision = self.policy.decide(error, attempt)
        if not decision.retry and not self.bury_hook(event, hook_key, error, decision):
            return self._later(decision)
        return decision

    def bury_hook(
        self, event: Event, hook_key: str, error: Exception, decision: RetryDecision
    ) -> bool:
        letter = _event_letter(
            DeadLetter.hook_letter_id(event.id, hook_key),
            DeadLetterKind.HOOK,
            event=event,
            error=error,
            decision=decision,
            hook=hook_key,
        )
        return self._bury(letter)

    def _bury(self, letter: DeadLetter) -> bool:
        """Write the dead letter; False when its store is down (so the work must stay alive)."""
        try:
            self.services.dead_letters.bury(letter)
        except TRANSIENT_ERRORS as e:
            log.warning("cannot write dead letter %s now: %s", letter.id, describe(e))
            return False
        return True

    def _later(self, decision: RetryDecision) -> RetryDecision:
        """Keep the work alive with the longest wait when its dead letter cannot be written."""
        return RetryDecision(
            decision.failure, decision.attempt, retry=True, countdown_s=self.policy.backoff_max_s
        )

    def _mark_retrying(self, command_id: str, error: str) -> None:
        """Best effort: the retry is what matters, the status only informs."""
        try:
            self.services.state.transition(command_id, CommandStatus.RETRYING, last_error=error)
        except (InvalidTransition, redis.RedisError) as e:
            log.info("command %s not marked retrying: %s", command_id, describe(e))


def _command_letter(command: Command, error: Exception, decision: RetryDecision) -> DeadLetter:
    return DeadLetter(
        id=DeadLetter.command_letter_id(command.id),
        kind=DeadLetterKind.COMMAND,
        name=command.name,
        command_id=command.id,
        envelope=command.model_dump(mode="json"),
        error=describe(error),
        failure=decision.failure,
        attempts=decision.attempt,
        dead_at=utc_now(),
    )


def _event_letter(
    letter_id: str,
    kind: DeadLetterKind,
    *,
    event: Event,
    error: Exception,
    decision: RetryDecision,
    hook: str | None = None,
) -> DeadLetter:
    return DeadLetter(
        id=letter_id,
        kind=kind,
        name=event.name,
        hook=hook,
        command_id=event.command_id,
        envelope=event.model_dump(mode="json"),
        error=describe(error),
        failure=decision.failure,
        attempts=decision.attempt,
        dead_at=utc_now(),
    )
