"""Celery tasks: one per command name on its module's queue, one per event name, and
``hookline.hook``, which tries one hook again on its own.

Task bodies parse the envelope and hand it to the process's ``Runtime``. A
command with a serial key first takes its turn in its line (``core.serial``):
not yet its turn, it is parked and its message acknowledged; the message comes
back when the commands before it have ended. When
one fails, ``Runtime.failures`` (the retry policy of ``workers.retry``) says
whether to try again and when; the try number travels in the message as the
``attempt`` keyword, so a redelivery after a crash does not use up a try.
``replay_of`` names the dead letter a replay came from, resolved once the
replay has run to an outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import redis
from celery import Celery, Task
from celery.exceptions import Reject, Retry

from core.celery_app import ADMIN_QUEUE, EVENTS_QUEUE, HOOK_TASK, event_task_name
from core.command_state import CommandBusy, CommandRefused, CommandUnconfirmed, NotYourTurn
from core.failpoints import failpoint
from core.redelivery import SentMessage
from events import Command, Event, EventCatalogue, InvalidTransition
from events.platform_commands import ADMIN_COMMANDS
from modules import BaseModule
from workers.failures import describe
from workers.hook_runner import UnknownHook
from workers.retry import RetryDecision
from workers.runtime import Runtime

log = logging.getLogger(__name__)

# How soon a command taken off the broker before its gateway confirmed it is looked at again.
UNCONFIRMED_RECHECK_S = 0.5


class HooklineTask(Task):  # type: ignore[misc]
    """Finds the process's runtime on the app (set at worker process start)."""

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime | None = getattr(self.app, "hookline_runtime", None)
        if runtime is None:
            raise RuntimeError("the Hookline runtime is not started in this process")
        return runtime

    def started(self) -> None:
        """Strike this message from the ledger of messages not yet started (best effort:
        a note left behind only costs a harmless second delivery later)."""
        try:
            self.runtime.services.ledger.started(self.request.id, self.queue)
        except redis.RedisError as e:
            log.warning("message %s not marked started: %s", self.request.id, e)

    def after_failure(self, decide: Callable[[Exception], RetryDecision], error: Exception) -> None:
        """A try failed with ``error``: ``decide`` runs the retry policy and its bookkeeping;
        a retry is sent as the same message with the next try number, and Celery's
        ``Retry`` raised.

        Nothing that breaks off this path may lose the message: a second soft time limit
        (Celery can signal one twice), a store or the broker down. Whatever does returns
        the message to the broker (``Reject``), where it runs again with the same try
        number; the message in hand is only acknowledged once its retry is sent."""
        try:
            decision = decide(error)
            if not decision.retry:
                return
            failpoint("retry.before_send")
            kwargs = {**(self.request.kwargs or {}), "attempt": decision.next_attempt}
            retry = self.again(kwargs, decision.countdown_s, error)
        except Reject:  # ``again`` could not send the retry and returns the message itself
            raise
        except Exception as e:  # whatever broke off the failure path, the message survives
            raise self.back_to_broker(e) from e
        raise retry from error

    def back_to_broker(self, error: Exception) -> Reject:
        """The ``Reject`` that returns the message in hand to the broker, unacknowledged."""
        log.warning("message %s back to the broker: %s", self.request.id, describe(error))
        return Reject(describe(error), requeue=True)

    def in_hand(
        self, kwargs: dict[str, Any] | None = None, countdown_s: float = 0.0
    ) -> SentMessage:
        """The message being run, to send again (with ``kwargs`` instead of its own)."""
        return SentMessage.now(
            self.request.id,
            self.name,
            self.queue,
            list(self.request.args or ()),
            keywords=dict(self.request.kwargs or {}) if kwargs is None else kwargs,
            countdown_s=countdown_s,
        )

    def again(self, kwargs: dict[str, Any], countdown_s: float, error: Exception) -> Exception:
        """Send this task again through the sender and return Celery's ``Retry``, which
        acknowledges the message in hand. If the retry cannot be sent (the broker or Redis
        is down), the message goes back to the broker instead of being lost."""
        try:
            self.runtime.services.sender.send([self.in_hand(kwargs, countdown_s)])
        except Exception as e:  # whatever stopped the publish, the message must survive
            raise self.back_to_broker(e) from e
        retry: Exception = Retry(exc=error, when=countdown_s)
        return retry

    def recheck_in(self, error: CommandBusy | CommandUnconfirmed | NotYourTurn) -> float:
        """How soon a command that cannot start yet is looked at again."""
        if isinstance(error, NotYourTurn):
            return UNCONFIRMED_RECHECK_S  # it takes its turn (and parks) next time
        if isinstance(error, CommandUnconfirmed):
            # Taken off the broker before its gateway confirmed it: very soon.
            return min(error.fence_in_s, UNCONFIRMED_RECHECK_S)
        # A duplicate delivery while another worker runs it: after its lease.
        return min(error.retry_in_s + 1, self.runtime.failures.policy.backoff_max_s)


def register_tasks(
    app: Celery, classes: Mapping[str, type[BaseModule]], catalogue: EventCatalogue
) -> None:
    for cls in classes.values():
        for route in cls.routes:
            _command_task(app, cls.command_name(route.handler), queue=cls.name)
        for job in cls.jobs:
            _job_task(app, cls.job_name(job.name), queue=cls.name)
    for name in ADMIN_COMMANDS:
        _command_task(app, name, queue=ADMIN_QUEUE)
    for name in catalogue:
        _event_task(app, event_task_name(name))
    _hook_task(app)


def _command_task(app: Celery, name: str, queue: str) -> None:
    @app.task(name=name, bind=True, base=HooklineTask, queue=queue, max_retries=None)  # type: ignore[untyped-decorator]
    def run_command(
        self: HooklineTask, envelope: dict[str, Any], attempt: int = 1, replay_of: str | None = None
    ) -> None:
        self.started()
        command = Command.model_validate(envelope)
        runtime = self.runtime
        try:
            if not runtime.services.lines.take_turn(command, self.in_hand()):
                log.debug("command %s parked until its turn", command.id)
                return  # acknowledged: its message is kept with it, sent when its turn comes
            runtime.run_command(command)
        except (CommandBusy, CommandUnconfirmed, NotYourTurn) as e:
            raise self.again(dict(self.request.kwargs or {}), self.recheck_in(e), e) from e
        except CommandRefused:
            log.info("command %s was refused when submitted (503); never runs", command.id)
        except InvalidTransition:
            log.info("command %s was finished by another delivery", command.id)
        except Exception as e:  # isolation boundary: the retry policy decides what follows
            decide = partial(runtime.failures.command_failed, command, attempt=attempt)
            self.after_failure(decide, e)
            return
        _resolve(runtime, replay_of)


def _event_task(app: Celery, name: str) -> None:
    @app.task(name=name, bind=True, base=HooklineTask, queue=EVENTS_QUEUE, max_retries=None)  # type: ignore[untyped-decorator]
    def run_event(
        self: HooklineTask, envelope: dict[str, Any], attempt: int = 1, replay_of: str | None = None
    ) -> None:
        self.started()
        event = Event.model_validate(envelope)
        runtime = self.runtime
        try:
            runtime.run_event(event)
        except Exception as e:  # isolation boundary: hooks are isolated, this is the bookkeeping
            self.after_failure(partial(runtime.failures.event_failed, event, attempt=attempt), e)
            return
        _resolve(runtime, replay_of)


def _job_task(app: Celery, name: str, queue: str) -> None:
    @app.task(name=name, bind=True, base=HooklineTask, queue=queue)  # type: ignore[untyped-decorator]
    def run_job(self: HooklineTask, payload: dict[str, Any]) -> None:
        self.started()
        try:
            self.runtime.run_job(name, payload)
        except Exception:  # isolation boundary: the module keeps what is due and sends again
            log.exception(
                "job %s (%s) failed; its module sends it again when due", name, self.request.id
            )


def _resolve(runtime: Runtime, replay_of: str | None) -> None:
    """A replay ran to an outcome: its dead letter is resolved."""
    if replay_of is not None:
        runtime.services.dead_letters.resolve(replay_of)


def _hook_task(app: Celery) -> None:
    @app.task(name=HOOK_TASK, bind=True, base=HooklineTask, queue=EVENTS_QUEUE, max_retries=None)  # type: ignore[untyped-decorator]
    def run_hook(
        self: HooklineTask,
        envelope: dict[str, Any],
        hook_key: str,
        attempt: int = 1,
        replay_of: str | None = None,
    ) -> None:
        self.started()
        event = Event.model_validate(envelope)
        runtime = self.runtime
        try:
            runtime.run_hook(event, hook_key, attempt, replay_of)
        except UnknownHook:
            log.exception("hook %s on event %s cannot be run here", hook_key, event.id)
        except Exception as e:  # isolation boundary: the hook is isolated, this is the bookkeeping
            decide = partial(runtime.failures.hook_failed, event, hook_key, attempt=attempt)
            self.after_failure(decide, e)
