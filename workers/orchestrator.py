"""The orchestrator base: wires one pure module to the stores, the bus and the hook registry.

A concrete orchestrator names its module class and defines one method per
declared route handler and hook handler; everything else is done here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel
from pymongo.collection import Collection

from core.redelivery import SentMessage
from events import CommandResult, EventCatalogue, HookRegistry, RegistrationError, new_id
from modules import BaseModule, Job, Route
from workers.context import CommandContext
from workers.services import WorkerServices

M = TypeVar("M", bound=BaseModule)
P = TypeVar("P", bound="Orchestrator[Any]")

CommandHandler = Callable[..., CommandResult]


@dataclass(frozen=True)
class Step:
    """Work an orchestrator wants done every ``interval_s`` in each worker process."""

    name: str
    interval_s: float
    run: Callable[[], object]


class Orchestrator(Generic[M]):
    module_class: ClassVar[type[BaseModule]] = BaseModule

    def __init__(self, module: M, services: WorkerServices) -> None:
        self.module = module
        self.services = services
        self.state = services.state
        self.read_models = services.read_models
        # Every event the worker knows (set by the runtime before ``on_start``).
        self.catalogue = EventCatalogue()
        self._peers: Mapping[str, Orchestrator[Any]] = {}

    def attach_peers(self, peers: Mapping[str, Orchestrator[Any]]) -> None:
        """Give access to the orchestrators of started modules (the runtime's table)."""
        self._peers = peers

    def peer(self, kind: type[P]) -> P:
        """The orchestrator of a module this one depends on; only declared dependencies."""
        name = kind.module_class.name
        if name not in self.module.dependencies:
            raise RegistrationError(f"module {self.module.name!r} does not depend on {name!r}")
        found = self._peers.get(name)
        if not isinstance(found, kind):
            raise RegistrationError(f"module {name!r} is not running")
        return found

    @classmethod
    def check_declarations(cls, module_class: type[BaseModule]) -> None:
        """Every declared route and hook handler must exist on this orchestrator."""
        wanted = [(r.handler, f"route {r.method} {r.path}") for r in module_class.routes]
        wanted += [(h.handler, f"hook for {h.event!r}") for h in module_class.hooks]
        wanted += [(j.handler, f"job {j.name!r}") for j in module_class.jobs]
        for handler, what in wanted:
            if not callable(getattr(cls, handler, None)):
                raise RegistrationError(
                    f"module {module_class.name!r}: {what} names handler {handler!r}, "
                    f"which {cls.__name__} does not define"
                )

    def collection(self, short: str) -> Collection[dict[str, Any]]:
        return self.services.db[self.module.collection_name(short)]

    def ensure_indexes(self) -> None:
        for index in self.module.indexes:
            self.collection(index.collection).create_index(list(index.keys), unique=index.unique)

    def register_hooks(self, registry: HookRegistry) -> None:
        for hook in self.module.hooks:
            registry.register(
                hook.event,
                getattr(self, hook.handler),
                module=self.module.name,
                handler_name=hook.handler,
                priority=hook.priority,
                context=hook.context,
                critical=hook.critical,
            )

    def send_jobs(self, job: str, payloads: Sequence[BaseModel]) -> None:
        """Send one ``job`` message per payload, in one broker trip, through the sender."""
        declared = self.job(job)
        messages = [
            SentMessage.now(
                new_id(),
                self.module.job_name(declared.name),
                self.module.name,
                [declared.payload.model_validate(p).model_dump(mode="json")],
            )
            for p in payloads
        ]
        self.services.sender.send(messages)

    def job(self, name: str) -> Job:
        for job in self.module.jobs:
            if job.name == name:
                return job
        raise RegistrationError(f"module {self.module.name!r} declares no job {name!r}")

    def run_job(self, job: Job, payload: dict[str, Any]) -> None:
        getattr(self, job.handler)(job.payload.model_validate(payload))

    def periodic(self) -> Sequence[Step]:
        """Work to run every so often in each worker process; override if needed."""
        return ()

    def handler_for(self, route: Route) -> CommandHandler:
        handler: CommandHandler = getattr(self, route.handler)
        return handler

    def put_read_model(self, view: str, key: str, data: BaseModel) -> None:
        self.read_models.put(self.module.name, view, key, data)

    @staticmethod
    def result(body: BaseModel | None = None, status_code: int = 200) -> CommandResult:
        return CommandResult.of(body, status_code)

    def on_start(self) -> None:
        """Called once the module is initialised and its indexes exist; override if needed.

        The modules it depends on have started: ``peer`` reaches them already."""

    def run(self, route: Route, ctx: CommandContext, request: BaseModel | None) -> CommandResult:
        handler = self.handler_for(route)
        return handler(ctx) if request is None else handler(ctx, request)
