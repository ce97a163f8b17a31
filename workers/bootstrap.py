"""Worker start-up: what is checked before any process forks, and what each process builds.

``Blueprint`` is pure: it discovers modules, builds the event catalogue, and
checks every declaration against its orchestrator, so a wrong hook or route
stops ``celery worker`` before it consumes anything.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from celery import Celery

from core.celery_app import ADMIN_QUEUE, EVENTS_QUEUE
from core.settings import Settings
from events import EventCatalogue, HookRegistry, RegistrationError
from modules import BaseModule, discover, load_order
from workers.heartbeat import Heartbeat
from workers.orchestrators import orchestrator_for
from workers.redelivery import Redeliverer, RedeliveryLoop
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

    @classmethod
    def from_settings(cls, settings: Settings) -> Blueprint:
        return cls.from_classes(discover(settings.modules))

    @classmethod
    def from_classes(cls, classes: Mapping[str, type[BaseModule]]) -> Blueprint:
        order = tuple(load_order({name: c.dependencies for name, c in classes.items()}))
        catalogue = EventCatalogue(tuple(e for name in order for e in classes[name].events))
        blueprint = cls(classes, catalogue, order)
        blueprint.check()
        return blueprint

    def check(self) -> None:
        """Register every hook once in a throwaway registry: the same checks as at run time."""
        reserved = {ADMIN_QUEUE, EVENTS_QUEUE} & set(self.order)
        if reserved:
            raise RegistrationError(
                f"module name {reserved.pop()!r} is reserved for a platform queue"
            )
        registry = HookRegistry(self.catalogue)
        for name in self.order:
            module_class = self.classes[name]
            orchestrator = orchestrator_for(module_class)
            orchestrator.check_declarations(module_class)
            for hook in module_class.hooks:
                registry.register(
                    hook.event,
                    getattr(orchestrator, hook.handler),
                    module=name,
                    handler_name=hook.handler,
                    priority=hook.priority,
                )

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
    redelivery = RedeliveryLoop(
        Redeliverer(services.ledger, services.redis, app, settings),
        (*blueprint.queues, EVENTS_QUEUE, ADMIN_QUEUE),
        settings.redelivery_sweep_s,
    )
    redelivery.start()
    app.hookline_runtime = runtime
    app.hookline_heartbeat = heartbeat
    app.hookline_redelivery = redelivery
    log.info(
        "hookline runtime started: %s",
        ", ".join(f"{r.name}={r.state}" for r in runtime.modules.reports.values()),
    )
    return runtime


def stop_runtime(app: Celery) -> None:
    heartbeat: Heartbeat | None = getattr(app, "hookline_heartbeat", None)
    runtime: Runtime | None = getattr(app, "hookline_runtime", None)
    redelivery: RedeliveryLoop | None = getattr(app, "hookline_redelivery", None)
    if redelivery is not None:
        redelivery.stop()
    if heartbeat is not None:
        heartbeat.stop()
    if runtime is not None:
        _close_within(runtime.services.close, CLOSE_TIMEOUT_S)
    app.hookline_runtime = None
    app.hookline_heartbeat = None
    app.hookline_redelivery = None


def _close_within(close: Callable[[], None], timeout_s: float) -> None:
    closer = threading.Thread(target=close, name="hookline-close", daemon=True)
    closer.start()
    closer.join(timeout_s)
    if closer.is_alive():
        log.warning("stores did not close within %.0f s; leaving them to the exit", timeout_s)
