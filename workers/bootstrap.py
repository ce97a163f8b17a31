"""Worker start-up: what is checked before any process forks, and what each process builds.

``Blueprint`` is pure: it discovers modules, builds the event catalogue, and
checks every declaration against its orchestrator, so a wrong hook or route
stops ``celery worker`` before it consumes anything.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from celery import Celery

from core.settings import Settings
from events import EventCatalogue
from modules import BaseModule, discover
from modules.introspection import declared
from workers.heartbeat import Heartbeat
from workers.orchestrators import DEFAULT_PACKAGES, orchestrator_for
from workers.runtime import Runtime
from workers.services import WorkerServices
from workers.tasks import register_tasks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Blueprint:
    classes: Mapping[str, type[BaseModule]]
    catalogue: EventCatalogue
    order: tuple[str, ...]
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
        """Check every declaration against its orchestrator, then order and register hooks."""
        for module_class in classes.values():
            orchestrator_for(module_class, orchestrator_packages).check_declarations(module_class)
        found = declared(classes)  # the same registration checks a worker's registry makes
        return cls(found.classes, found.catalogue, found.order, orchestrator_packages)

    @property
    def queues(self) -> tuple[str, ...]:
        return self.order

    def register_tasks(self, app: Celery) -> None:
        register_tasks(app, {name: self.classes[name] for name in self.order}, self.catalogue)


def start_runtime(app: Celery, settings: Settings, blueprint: Blueprint) -> Runtime:
    services = WorkerServices.build(settings, app)
    runtime = Runtime(
        {n: blueprint.classes[n] for n in blueprint.order}, blueprint.catalogue, services
    )
    heartbeat = Heartbeat(runtime)
    heartbeat.start()
    app.hookline_runtime = runtime
    app.hookline_heartbeat = heartbeat
    log.info(
        "hookline runtime started: %s",
        ", ".join(f"{r.name}={r.state}" for r in runtime.modules.reports.values()),
    )
    return runtime


def stop_runtime(app: Celery) -> None:
    heartbeat: Heartbeat | None = getattr(app, "hookline_heartbeat", None)
    runtime: Runtime | None = getattr(app, "hookline_runtime", None)
    if heartbeat is not None:
        heartbeat.stop()
    if runtime is not None:
        runtime.services.close()
    app.hookline_runtime = None
    app.hookline_heartbeat = None
