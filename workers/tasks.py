"""Celery tasks: one per command name on its module's queue, one per event name, and
``hookline.hook``, which tries one hook again on its own.

Task bodies parse the envelope and hand it to the process's ``Runtime``. When
one fails, ``Runtime.failures`` (the retry policy of ``workers.retry``) says
whether to try again and when; the try number travels in the message as the
``attempt`` keyword, so a redelivery after a crash does not use up a try.
``replay_of`` names the dead letter a replay came from, resolved once the
replay has run to an outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import redis
from celery import Celery, Task
from celery.exceptions import Reject

from core.celery_app import ADMIN_QUEUE, EVENTS_QUEUE, HOOK_TASK, event_task_name
from core.command_state import CommandBusy
from core.redelivery import SentMessage
from events import Command, Event, EventCatalogue, InvalidTransition
from events.admin import ADMIN_COMMANDS
from modules import BaseModule
from workers.hook_runner import UnknownHook
from workers.retry import RetryDecision
from workers.runtime import Runtime

log = logging.getLogger(__name__)


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

    def try_again(self, decision: RetryDecision, error: Exception) -> Exception:
        """The ``Retry`` to raise: the same message, next try number, after the countdown."""
        kwargs = {**(self.request.kwargs or {}), "attempt": decision.next_attempt}
        return self.again(kwargs, decision.countdown_s, error)

    def again(self, kwargs: dict[str, Any], countdown_s: float, error: Exception) -> Exception:
        """Publish this task again (noted in the ledger first) and return Celery's ``Retry``."""
        message = SentMessage.now(
            self.request.id,
            self.name,
            self.queue,
            list(self.request.args or ()),
            keywords=kwargs,
            countdown_s=countdown_s,
        )
        try:
            self.runtime.services.ledger.record(message)
        except redis.RedisError as e:
            log.warning("retry of %s not noted: %s", self.request.id, e)
        try:
            retry: Exception = self.retry(
                kwargs=kwargs, countdown=countdown_s, exc=error, max_retries=None
            )
        except Reject as e:
            # Celery could not publish the retry (broker down) and would drop the message:
            # give it back to the broker instead.
            raise Reject(e.reason, requeue=True) from e
        return retry


def register_tasks(
    app: Celery, classes: Mapping[str, type[BaseModule]], catalogue: EventCatalogue
) -> None:
    for cls in classes.values():
        for route in cls.routes:
            _command_task(app, cls.command_name(route.handler), queue=cls.name)
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
            runtime.run_command(command)
        except CommandBusy as e:
            # A duplicate delivery while another worker runs it: come back after its lease.
            wait_s = min(e.retry_in_s + 1, runtime.failures.policy.backoff_max_s)
            raise self.again(dict(self.request.kwargs or {}), wait_s, e) from e
        except InvalidTransition:
            log.info("command %s was finished by another delivery", command.id)
        except Exception as e:  # isolation boundary: the retry policy decides what follows
            decision = runtime.failures.command_failed(command, e, attempt)
            if decision.retry:
                raise self.try_again(decision, e) from e
            return
        if replay_of is not None:
            runtime.services.dead_letters.resolve(replay_of)


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
            decision = runtime.failures.event_failed(event, e, attempt)
            if decision.retry:
                raise self.try_again(decision, e) from e
            return
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
            decision = runtime.failures.hook_failed(event, hook_key, e, attempt)
            if decision.retry:
                raise self.try_again(decision, e) from e
