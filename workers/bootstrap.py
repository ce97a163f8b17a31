"""Worker start-up: what is checked before any process forks, and what each process builds.

``Blueprint`` is pure: it discovers modules, builds the event catalogue, and
checks every declaration against its orchestrator, so a wrong hook or route
stops ``celery worker`` before it consumes anything.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from celery import Celery

from core.celery_app import ADMIN_QUEUE, EVENTS_QUEUE
from core.schedule import ScheduleReleaser
from core.security import RoleTable
from core.settings import Settings
from events import EventCatalogue, RegistrationError, new_id
from modules import BaseModule, discover
from modules.introspection import declared
from workers.heartbeat import Heartbeat
from workers.orchestrators import DEFAULT_PACKAGES, orchestrator_for
from workers.periodic import Periodic
from workers.redelivery import Redeliverer
from workers.runtime import Runtime
from workers.services import WorkerServices
from workers.tasks import register_tasks

log = logging.getLogger(__name__)

# Closing clients talks to the servers (pymongo ends its sessions); a frozen server must
# not hold up a shutdown, so the process stops waiting after this long.
CLOSE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Blueprint:
    classes: Mapping[str, type[BaseModule]]
    catalogue: EventCatalogue
    order: tuple[str, ...]
    roles: RoleTable
    orchestrator_packages: tuple[str, ...] = DEFAULT_PACKAGES

    @classmethod
    def from_settings(cls, settings: Settings) -> Blueprint:
        classes = discover(settings.modules, settings.module_packages)
        return cls.from_classes(classes, settings.orchestrator_packages)

    @classmethod
    def from_classes(
        cls,
        classes: Mapping[str, type[BaseModule]],
        orchestrator_packages: tuple[str, ...] = DEFAULT_PACKAGES,
    ) -> Blueprint:
        """Check every declaration against its orchestrator, then order and register hooks,
        and compose the role table."""
        reserved = {ADMIN_QUEUE, EVENTS_QUEUE} & set(classes)
        if reserved:
            raise RegistrationError(
                f"module name {reserved.pop()!r} is reserved for a platform queue"
            )
        for module_class in classes.values():
            orchestrator_for(module_class, orchestrator_packages).check_declarations(module_class)
        found = declared(classes)  # the same registration checks a worker's registry makes
        roles = RoleTable.compose(found.permissions, found.permission_uses)
        return cls(found.classes, found.catalogue, found.order, roles, orchestrator_packages)

    @property
    def queues(self) -> tuple[str, ...]:
        return self.order

    def register_tasks(self, app: Celery) -> None:
        register_tasks(app, {name: self.classes[name] for name in self.order}, self.catalogue)


def start_runtime(app: Celery, settings: Settings, blueprint: Blueprint) -> Runtime:
    services = WorkerServices.build(settings, app, blueprint.roles)
    runtime = Runtime(
        {n: blueprint.classes[n] for n in blueprint.order}, blueprint.catalogue, services
    )
    heartbeat = Heartbeat(runtime)
    heartbeat.start()
    redeliverer = Redeliverer(
        services.ledger, services.redis, services.sender, settings, services.lines
    )
    queues = (*blueprint.queues, EVENTS_QUEUE, ADMIN_QUEUE)
    loops = [
        Periodic(
            "hookline-redelivery",
            settings.redelivery_sweep_s,
            functools.partial(redeliverer.sweep, queues),
        ),
        Periodic("hookline-schedule", settings.schedule_tick_s, _releaser(services).tick),
        *(
            Periodic(f"hookline-{orchestrator.module.name}-{step.name}", step.interval_s, step.run)
            for orchestrator in runtime.modules.loaded.values()
            for step in orchestrator.periodic()
        ),
    ]
    for loop in loops:
        loop.start()
    app.hookline_runtime = runtime
    app.hookline_heartbeat = heartbeat
    app.hookline_loops = loops
    log.info(
        "hookline runtime started: %s",
        ", ".join(f"{r.name}={r.state}" for r in runtime.modules.reports.values()),
    )
    return runtime


def stop_runtime(app: Celery) -> None:
    heartbeat: Heartbeat | None = getattr(app, "hookline_heartbeat", None)
    runtime: Runtime | None = getattr(app, "hookline_runtime", None)
    loops: list[Periodic] = getattr(app, "hookline_loops", None) or []
    for loop in loops:
        loop.stop()
    if heartbeat is not None:
        heartbeat.stop()
    if runtime is not None:
        _close_within(runtime.services.close, CLOSE_TIMEOUT_S)
    app.hookline_runtime = None
    app.hookline_heartbeat = None
    app.hookline_loops = None


def _releaser(services: WorkerServices) -> ScheduleReleaser:
    settings = services.settings
    return ScheduleReleaser(
        services.redis,
        services.state,
        services.sender,
        ttl_s=settings.command_ttl_s,
        lease_s=settings.schedule_lease_s,
        holder=f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}",
    )


def _close_within(close: Callable[[], None], timeout_s: float) -> None:
    closer = threading.Thread(target=close, name="hookline-close", daemon=True)
    closer.start()
    closer.join(timeout_s)
    if closer.is_alive():
        log.warning("stores did not close within %.0f s; leaving them to the exit", timeout_s)
