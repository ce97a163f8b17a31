"""The worker runtime: loaded modules, their orchestrators, and how commands and events run."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ValidationError

from events import (
    Command,
    CommandResult,
    CommandStatus,
    DomainError,
    Event,
    EventCatalogue,
    HookRegistry,
    HookRun,
    HookRunStatus,
    InvalidInput,
    InvalidTransition,
    Problem,
    RegisteredHook,
)
from modules import BaseModule, LoadResult, Route, load_all
from workers.context import CommandContext, HookContext
from workers.metrics import observe_hook_run
from workers.orchestrator import Orchestrator
from workers.orchestrators import orchestrator_for
from workers.services import WorkerServices

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandRoute:
    orchestrator: Orchestrator[BaseModule]
    route: Route


class Runtime:
    """Built once per worker process: modules started in order, hooks registered."""

    def __init__(
        self,
        classes: Mapping[str, type[BaseModule]],
        catalogue: EventCatalogue,
        services: WorkerServices,
    ) -> None:
        self.services = services
        self.catalogue = catalogue
        self.hooks = HookRegistry(catalogue)
        self.modules: LoadResult[Orchestrator[BaseModule]] = load_all(classes, self._start)
        for orchestrator in self.modules.loaded.values():
            orchestrator.attach_peers(self.modules.loaded)
        self.commands = {
            orch.module.command_name(route.handler): CommandRoute(orch, route)
            for orch in self.modules.loaded.values()
            for route in orch.module.routes
        }

    def _start(self, module_class: type[BaseModule]) -> Orchestrator[BaseModule]:
        secrets = self.services.secrets.resolve_all(
            [(s.name, s.default) for s in module_class.secrets], module_class.name
        )
        module = module_class()
        module.initialize(secrets)
        packages = self.services.settings.orchestrator_packages
        orchestrator = orchestrator_for(module_class, packages)(module, self.services)
        orchestrator.ensure_indexes()
        orchestrator.on_start()
        orchestrator.register_hooks(self.hooks)
        return orchestrator

    # -- commands ---------------------------------------------------------------------------

    def run_command(self, command: Command) -> None:
        """Run ``command`` once; a redelivery of a finished command changes nothing."""
        state = self.services.state
        try:
            lease_s = self.services.settings.task_time_limit_s
            if state.start(command.id, lease_s) is None:
                log.warning("command %s is unknown or expired; dropped", command.id)
                return
        except InvalidTransition as e:
            log.info(
                "command %s already finished; redelivery ignored",
                command.id,
                extra={"reason": str(e)},
            )
            return
        ctx = CommandContext.for_command(
            command, self.catalogue, self.services.settings.max_event_depth
        )
        try:
            result = self._call_handler(command, ctx)
        except DomainError as e:
            state.fail(
                command.id,
                Problem.from_error(e, instance=f"/commands/{command.id}"),
                CommandStatus.FAILED,
            )
            return
        self._publish(command.id, ctx.events)
        state.succeed(command.id, result)

    def _call_handler(self, command: Command, ctx: CommandContext) -> CommandResult:
        target = self.commands.get(command.name)
        if target is None:
            raise DomainError(f"no loaded module handles command {command.name!r}")
        return target.orchestrator.run(target.route, ctx, _parse_request(target.route, command))

    def _publish(self, command_id: str, events: list[Event]) -> None:
        self.services.state.expect_events(command_id, [e.id for e in events])
        self.services.bus.publish(events)

    # -- events -----------------------------------------------------------------------------

    def run_event(self, event: Event) -> None:
        """Run every hook for ``event`` in order, skipping the ones that already completed."""
        for hook in self.hooks.hooks_for(event.name):
            if self.services.hook_runs.is_done(event.id, hook.key):
                continue
            succeeded = self._run_hook(hook, event)
            if not succeeded and hook.critical:
                log.error("critical hook %s failed; later hooks for %s not run", hook.key, event.id)
                break
        self.services.state.settle(event.command_id, event.id)

    def _run_hook(self, hook: RegisteredHook, event: Event) -> bool:
        ctx = HookContext.for_hook(
            event, hook.key, self.catalogue, self.services.settings.max_event_depth
        )
        started = time.perf_counter()
        error: str | None = None
        try:
            hook.handler(event, ctx)
        except Exception as e:  # isolation boundary: one hook must not stop the others
            log.exception("hook %s failed on event %s", hook.key, event.id)
            error = f"{type(e).__name__}: {e}"
        if error is None:
            self._publish(event.command_id, ctx.events)
            self.services.hook_runs.mark_done(event.id, hook.key)
        run = _hook_run(hook, event, started, error)
        self.services.state.record_hook_run(event.command_id, run)
        observe_hook_run(run)
        return error is None


def _parse_request(route: Route, command: Command) -> BaseModel | None:
    if route.request is None:
        return None
    try:
        return route.request.model_validate(command.payload)
    except ValidationError as e:
        errors = json.loads(e.json(include_url=False))
        raise InvalidInput("the command payload is invalid", errors=errors) from e


def _hook_run(hook: RegisteredHook, event: Event, started: float, error: str | None) -> HookRun:
    return HookRun(
        event=event.name,
        event_id=event.id,
        module=hook.module,
        handler=hook.handler_name,
        priority=hook.priority,
        status=HookRunStatus.FAILED if error else HookRunStatus.SUCCEEDED,
        attempts=1,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        error=error,
    )
