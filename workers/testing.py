"""A test harness for module authors: run commands and hooks in-process, no broker.

``Harness`` starts the real ``Runtime`` (modules in load order, the real
orchestrators, the real hook registry, the real hook runner and retry policy)
against real MongoDB and Redis, and replaces only the event bus with
``workers.bus.InProcessBus``: emitted events queue up in-process and are
dispatched, in the order they were emitted, when the command returns, so a
test sees the command's outcome, every event it caused and every hook run, as
``GET /commands/{id}`` would.

A failing hook goes through the same code as on a worker: the hook runner asks
``workers.failures`` (the retry policy) whether to try again, a critical hook
holds back the later hooks, and the last failure is buried as a dead letter in
MongoDB. A retry the runner schedules is queued on the bus and run, through
``Runtime.run_hook`` as the ``hookline.hook`` task runs it, once no event is
left to dispatch, on a virtual clock: nobody sleeps through the backoff. An
error that escapes the runtime (a store down) is raised to the test instead of
being retried as a task would. The pytest fixtures are in ``workers.pytest_plugin``.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pymongo.collection import Collection

from core import keys
from core.celery_app import make_celery
from core.command_state import CommandDocument, initial_fields
from core.logs import log_context
from core.sealing import SECRET_NAME as SEAL_KEY_NAME
from core.sealing import new_key_entry, open_result, seal_command
from core.settings import Settings
from events import (
    Actor,
    Command,
    CommandStatus,
    DeadLetter,
    Event,
    HookRun,
    new_id,
    sensitive_fields,
)
from modules import BaseModule, discover
from workers.bootstrap import Blueprint
from workers.bus import InProcessBus, ScheduledRetry, Sleeper, no_sleep
from workers.dead_letters import COLLECTION as DEAD_LETTERS
from workers.documents import from_document
from workers.runtime import Runtime
from workers.services import WorkerServices

JWT_SECRET_NAME = "jwt_secret"
SYNTHETIC_COMMAND = "harness.publish"


@dataclass(frozen=True)
class CommandRun:
    """A command as it ended, with every event it caused (in dispatch order), every hook
    retry scheduled for them (in the order scheduled) and every dead letter they left."""

    command: Command
    document: CommandDocument
    events: tuple[Event, ...]
    retries: tuple[ScheduledRetry, ...] = ()
    dead_letters: tuple[DeadLetter, ...] = ()

    @property
    def status(self) -> CommandStatus:
        return self.document.status

    @property
    def status_code(self) -> int:
        return self.document.outcome.status_code

    @property
    def body(self) -> Any:
        """The result's body, or the problem document of a failure."""
        if self.document.error is not None:
            return self.document.error.to_json()
        return self.document.result.body if self.document.result else None

    @property
    def event_names(self) -> list[str]:
        return [event.name for event in self.events]

    @property
    def hook_order(self) -> list[str]:
        """``module.handler`` of every hook run, in the order they ran."""
        return [run.key for run in self.document.hooks]

    def tries(self, hook_key: str) -> list[HookRun]:
        """The trace records of ``module.handler``'s tries, in order (status, attempts, error)."""
        return [r for r in self.document.hooks if r.key == hook_key]

    def hooks_run_for(self, event: str) -> list[str]:
        """``module.handler`` of the hooks that ran for events named ``event``, in order."""
        return [r.key for r in self.document.hooks if r.event == event]

    def emitted(self, name: str) -> list[dict[str, Any]]:
        """The payloads of the events named ``name``."""
        return [event.payload for event in self.events if event.name == name]

    def assert_emitted(self, name: str, **fields: Any) -> dict[str, Any]:
        """The one ``name`` event whose payload has ``fields``; AssertionError otherwise."""
        matching = [p for p in self.emitted(name) if all(p.get(k) == v for k, v in fields.items())]
        if len(matching) != 1:
            raise AssertionError(
                f"expected one {name!r} event with {fields}, got {len(matching)}; "
                f"events: {[(e.name, e.payload) for e in self.events]}"
            )
        return matching[0]

    def assert_hook_order(self, event: str, expected: Sequence[str]) -> None:
        ran = self.hooks_run_for(event)
        if ran != list(expected):
            raise AssertionError(f"hooks for {event!r} ran as {ran}, expected {list(expected)}")

    def assert_no_failed_hooks(self) -> None:
        failed = [(r.module, r.handler, r.error) for r in self.document.hooks if r.error]
        if failed:
            raise AssertionError(f"hooks failed: {failed}")


@dataclass(frozen=True)
class HarnessConfig:
    """Where the harness's stores are, and the secrets it hands the modules."""

    redis_url: str
    mongo_url: str
    database: str
    secrets_dir: Path
    secrets: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def settings(self, modules: Sequence[str]) -> Settings:
        # model_validate reads no environment: a developer's variables cannot leak into a test.
        return Settings.model_validate(
            {
                "REDIS_URL": self.redis_url,
                "MONGO_URL": self.mongo_url,
                "BROKER_URL": "memory://",
                "mongo_db": self.database,
                "data_dir": self.secrets_dir.parent,
                "secrets_dir": self.secrets_dir,
                "kubernetes_secrets_dir": self.secrets_dir / "none",
                "modules": tuple(modules),
            }
        )

    def write_secrets(self) -> None:
        """Secrets as files in the global secrets dir, which outranks the environment."""
        self.secrets_dir.mkdir(parents=True, exist_ok=True)
        values = {
            JWT_SECRET_NAME: secrets.token_hex(32),
            SEAL_KEY_NAME: new_key_entry(),
            **self.secrets,
        }
        for name, value in values.items():
            (self.secrets_dir / name).write_text(value)


class Harness:
    """The real runtime for some modules (and what they depend on), driven in-process."""

    def __init__(self, runtime: Runtime, bus: InProcessBus) -> None:
        self.runtime = runtime
        self.bus = bus
        self.services = runtime.services

    @classmethod
    def start(
        cls, modules: Sequence[str], config: HarnessConfig, sleep: Sleeper = no_sleep
    ) -> Harness:
        """Start ``modules`` plus their dependencies, as a worker process would; ``sleep``
        is called with each wait for a retry (``workers.bus.InProcessBus``)."""
        classes = with_dependencies(modules)
        config.write_secrets()
        settings = config.settings(tuple(classes))
        blueprint = Blueprint.from_classes(classes)
        bus = InProcessBus(sleep)
        celery = make_celery(settings, blueprint.queues)
        built = WorkerServices.build(settings, celery, blueprint.roles)
        services = dataclasses.replace(built, bus=bus)
        runtime = Runtime(
            {name: blueprint.classes[name] for name in blueprint.order},
            blueprint.catalogue,
            services,
        )
        return cls(runtime, bus)

    def submit(
        self,
        name: str,
        payload: BaseModel | Mapping[str, Any] | None = None,
        *,
        actor: Actor | None = None,
    ) -> CommandRun:
        """Run command ``name`` and every event it causes; the command as it ended."""
        data = payload.model_dump(mode="json") if isinstance(payload, BaseModel) else payload
        command = Command(name=name, payload=dict(data or {}), actor=actor or Actor())
        command = seal_command(self.services.keys, command, self._sensitive(name))
        self._accept(command)
        with log_context(command.correlation_id, command.id):
            self.runtime.run_command(command)
            events = self._drain()
        return self._ended(command, self._handed_over(self._read(command.id)), events)

    def _sensitive(self, name: str) -> frozenset[str]:
        """The fields the gateway would seal: the route's credentials."""
        target = self.runtime.commands.get(name)
        request = target.route.request if target is not None else None
        return sensitive_fields(request) if request is not None else frozenset()

    def _handed_over(self, document: CommandDocument) -> CommandDocument:
        """The document as its submitter first sees it: secrets included, taken once."""
        sealed = self.services.state.pop_secret(document.command_id)
        if sealed is None:
            return document
        return document.revealed(open_result(self.services.keys, document.command_id, sealed))

    def publish(self, name: str, payload: BaseModel | Mapping[str, Any]) -> CommandRun:
        """Dispatch event ``name`` as if a command had emitted it, to test hooks alone."""
        command = Command(name=SYNTHETIC_COMMAND)
        self._accept(command)
        event = Event(
            id=new_id(),
            name=name,
            payload=self.runtime.catalogue.validate_payload(name, payload),
            correlation_id=command.correlation_id,
            causation_id=command.id,
            command_id=command.id,
        )
        self.services.state.expect_events(command.id, [event.id])
        self.bus.publish([event])
        with log_context(command.correlation_id, command.id):
            events = self._drain()
        return self._ended(command, self._read(command.id), events)

    def dead_letters_of(self, command_id: str) -> tuple[DeadLetter, ...]:
        """The dead letters a command's work left in MongoDB, oldest first."""
        found = self.services.db[DEAD_LETTERS].find({"command_id": command_id}).sort("dead_at")
        return tuple(from_document(DeadLetter, d) for d in found)

    def dispatch_order(self, event: str) -> list[str]:
        """The hooks registered for ``event``, in the order a worker runs them."""
        return [hook.key for hook in self.runtime.hooks.hooks_for(event)]

    def collection(self, module: str, short: str) -> Collection[dict[str, Any]]:
        """A module's collection, to assert on what its orchestrator stored."""
        return self.services.db[f"{module}_{short}"]

    def read_model(self, module: str, view: str, key: str) -> Any:
        raw: str | None = self.services.redis.get(keys.read_model(module, view, key))  # type: ignore[assignment]
        return None if raw is None else json.loads(raw)

    def close(self, drop: bool = True) -> None:
        if drop:
            self.services.mongo.drop_database(self.services.settings.mongo_db)
        self.services.close()

    def _accept(self, command: Command) -> None:
        key = keys.command(command.id)
        client = self.services.redis
        client.hset(key, mapping=initial_fields(command))
        client.expire(key, self.services.settings.command_ttl_s)

    def _drain(self) -> tuple[Event, ...]:
        """Deliver what the bus holds until it is empty, as the event and hook tasks would."""
        dispatched: list[Event] = []
        while (delivery := self.bus.next()) is not None:
            if isinstance(delivery, ScheduledRetry):
                r = delivery
                self.runtime.run_hook(r.event, r.hook_key, r.attempt, r.replay_of)
            else:
                self.runtime.run_event(delivery)
                dispatched.append(delivery)
        return tuple(dispatched)

    def _ended(
        self, command: Command, document: CommandDocument, events: tuple[Event, ...]
    ) -> CommandRun:
        retries = tuple(r for r in self.bus.scheduled if r.event.command_id == command.id)
        return CommandRun(command, document, events, retries, self.dead_letters_of(command.id))

    def _read(self, command_id: str) -> CommandDocument:
        document = self.services.state.read(command_id)
        if document is None:
            raise AssertionError(f"command {command_id} has no state in Redis")
        return document


def with_dependencies(names: Sequence[str]) -> dict[str, type[BaseModule]]:
    """The module classes named, plus everything they depend on, transitively."""
    available = discover()
    wanted: dict[str, type[BaseModule]] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        if name not in available:
            raise LookupError(f"no module {name!r}; known: {', '.join(sorted(available))}")
        wanted[name] = available[name]
        todo.extend(available[name].dependencies)
    return wanted


def new_database_name() -> str:
    return f"harness_{uuid.uuid4().hex[:12]}"
