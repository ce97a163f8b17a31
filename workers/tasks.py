"""Celery tasks: one per command name on its module's queue, one per event name.

Task bodies parse the envelope and hand it to the process's ``Runtime``. The
retry policy lives here and only here.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

from celery import Celery, Task

from core.celery_app import EVENTS_QUEUE, event_task_name
from core.command_state import CommandBusy
from events import (
    Command,
    CommandStatus,
    Event,
    EventCatalogue,
    HooklineError,
    InvalidTransition,
    Problem,
)
from modules import BaseModule
from workers.runtime import Runtime

log = logging.getLogger(__name__)


class InternalError(HooklineError):
    """What a client sees of an unexpected failure: no internals leak."""


class HooklineTask(Task):  # type: ignore[misc]
    """Finds the process's runtime on the app (set at worker process start)."""

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime | None = getattr(self.app, "hookline_runtime", None)
        if runtime is None:
            raise RuntimeError("the Hookline runtime is not started in this process")
        return runtime

    def backoff_s(self) -> float:
        """Exponential backoff with full jitter, capped."""
        cap = self.runtime.services.settings.retry_backoff_max_s
        return random.uniform(0, min(cap, 2**self.request.retries))


def register_tasks(
    app: Celery, classes: Mapping[str, type[BaseModule]], catalogue: EventCatalogue
) -> None:
    for cls in classes.values():
        for route in cls.routes:
            _command_task(app, cls.command_name(route.handler), queue=cls.name)
    for name in catalogue:
        _event_task(app, event_task_name(name))


def _command_task(app: Celery, name: str, queue: str) -> None:
    @app.task(name=name, bind=True, base=HooklineTask, queue=queue, max_retries=None)  # type: ignore[untyped-decorator]
    def run_command(self: HooklineTask, envelope: dict[str, Any]) -> None:
        command = Command.model_validate(envelope)
        try:
            self.runtime.run_command(command)
        except CommandBusy as e:
            # A duplicate delivery while another worker runs it: come back after its lease.
            raise self.retry(countdown=e.retry_in_s + 1, max_retries=None) from e
        except InvalidTransition:
            log.info("command %s was finished by another delivery", command.id)
        except Exception as e:
            _retry_or_bury(self, command, e)


def _retry_or_bury(task: HooklineTask, command: Command, error: Exception) -> None:
    settings = task.runtime.services.settings
    state = task.runtime.services.state
    if task.request.retries < settings.command_max_retries:
        log.warning(
            "command %s failed, retrying",
            command.id,
            exc_info=True,
            extra={"command_id": command.id},
        )
        state.transition(
            command.id, CommandStatus.RETRYING, last_error=f"{type(error).__name__}: {error}"
        )
        raise task.retry(exc=error, countdown=task.backoff_s())
    log.error(
        "command %s failed for good", command.id, exc_info=True, extra={"command_id": command.id}
    )
    problem = Problem.from_error(
        InternalError("the command failed after every retry"), f"/commands/{command.id}"
    )
    state.fail(command.id, problem, CommandStatus.DEAD)


def _event_task(app: Celery, name: str) -> None:
    @app.task(name=name, bind=True, base=HooklineTask, queue=EVENTS_QUEUE)  # type: ignore[untyped-decorator]
    def run_event(self: HooklineTask, envelope: dict[str, Any]) -> None:
        self.runtime.run_event(Event.model_validate(envelope))
