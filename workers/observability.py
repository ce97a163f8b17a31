"""What a worker does for operators: logging set-up, per-task log context, task metrics.

Wired to Celery signals by ``install``, so the task bodies stay about business:
every line logged while a task runs carries its correlation id and command id,
and every finished task is counted by name and state.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from celery import Celery, Task, signals

from core.celery_app import EVENTS_QUEUE
from core.logs import command_id, configure_logging, correlation_id
from workers.metrics import clear_multiprocess_dir, observe_task, serve_worker_metrics

EVENT_TASK_PREFIX = "event."

# task id → when it started.
_started_at: dict[str, float] = {}


def install(app: Celery, queues: Sequence[str]) -> None:
    """Connect the signal handlers; the metrics endpoint serves ``queues`` and the events queue."""
    all_queues = tuple(dict.fromkeys([*queues, EVENTS_QUEUE]))

    def _serve_metrics(**_: Any) -> None:
        serve_worker_metrics(app, all_queues)

    signals.setup_logging.connect(_setup_logging, weak=False)
    signals.worker_init.connect(_before_fork, weak=False)
    signals.worker_ready.connect(_serve_metrics, weak=False)
    signals.task_prerun.connect(_task_started, weak=False)
    signals.task_postrun.connect(_task_finished, weak=False)


def _setup_logging(**_: Any) -> None:
    # Connected, this signal stops Celery from configuring logging its own way.
    configure_logging()


def _before_fork(**_: Any) -> None:
    clear_multiprocess_dir()


def envelope_ids(task_name: str, args: Sequence[Any] | None) -> tuple[str | None, str | None]:
    """(correlation id, command id) from a command or event envelope, if the task got one."""
    envelope = args[0] if args else None
    if not isinstance(envelope, dict):
        return None, None
    if task_name.startswith(EVENT_TASK_PREFIX):
        return envelope.get("correlation_id"), envelope.get("command_id")
    return envelope.get("correlation_id"), envelope.get("id")


def _task_started(
    task_id: str = "", task: Task | None = None, args: Sequence[Any] | None = None, **_: Any
) -> None:
    correlation, command = envelope_ids(getattr(task, "name", ""), args)
    correlation_id.set(correlation)
    command_id.set(command)
    _started_at[task_id] = time.perf_counter()


def _task_finished(
    task_id: str = "", task: Task | None = None, state: str | None = None, **_: Any
) -> None:
    started = _started_at.pop(task_id, None)
    duration_s = None if started is None else time.perf_counter() - started
    correlation_id.set(None)
    command_id.set(None)
    observe_task(getattr(task, "name", "unknown"), state or "UNKNOWN", duration_s)


__all__ = ["envelope_ids", "install"]
