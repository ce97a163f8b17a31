"""The Celery application workers run: ``celery -A workers.app worker``.

Importing this module is cheap and does no I/O: it discovers module
declarations, validates them and registers the tasks. Each worker process
builds its stores and starts its modules when it starts, and closes them when
it stops.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery, signals

from core import failpoints, tracing
from core.celery_app import make_celery
from core.sealing import KeyRing
from core.secrets import SecretsChain
from core.settings import Settings
from events import ConfigurationError
from workers import observability
from workers.bootstrap import Blueprint, start_runtime, stop_runtime

log = logging.getLogger(__name__)

settings = Settings()
# Armed before the pool forks, so every pool process inherits them (off unless set).
failpoints.install(settings.failpoints)
blueprint = Blueprint.from_settings(settings)
app: Celery = make_celery(settings, queues=blueprint.queues)
blueprint.register_tasks(app)
observability.install(app, blueprint.queues)


@signals.worker_init.connect  # type: ignore[untyped-decorator]
def _check_shutdown_mode(**_: Any) -> None:
    if os.environ.get("REMAP_SIGTERM") != "SIGQUIT":
        log.warning(
            "REMAP_SIGTERM is not SIGQUIT: SIGTERM waits for every running task however long, "
            "instead of a soft shutdown that returns unfinished work to the broker"
        )


@signals.worker_init.connect  # type: ignore[untyped-decorator]
def _refuse_without_seal_key(**_: Any) -> None:
    """No pool process starts without the bus seal key (SystemExit is not caught as a
    failing signal handler would be, so the worker stops here, naming the setting)."""
    try:
        KeyRing.from_secrets(SecretsChain.from_settings(settings))
    except ConfigurationError as e:
        log.critical("%s", e)
        raise SystemExit(f"hookline worker: {e}") from e


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _start_in_child(**_: Any) -> None:
    tracing.start(tracing.WORKER)  # after the fork, as the SDK's batch processor needs
    start_runtime(app, settings, blueprint)


@signals.worker_init.connect  # type: ignore[untyped-decorator]
def _start_in_solo_or_threads(sender: Any = None, **_: Any) -> None:
    # The prefork pool starts runtimes in its children; other pools run tasks in this process.
    pool = getattr(sender, "pool_cls", "prefork")
    pool_name = pool if isinstance(pool, str) else f"{pool.__module__}.{pool.__name__}"
    if "prefork" not in pool_name:
        tracing.start(tracing.WORKER)
        start_runtime(app, settings, blueprint)


@signals.worker_process_shutdown.connect  # type: ignore[untyped-decorator]
@signals.worker_shutdown.connect  # type: ignore[untyped-decorator]
def _stop(**_: Any) -> None:
    stop_runtime(app)
    tracing.stop()
