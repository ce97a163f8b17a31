"""The worker runtime: loaded modules, their orchestrators, and how commands and events run."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from core import tracing
from core.command_state import DeadlinePassed
from core.failpoints import failpoint
from core.sealing import opened_payload, seal_result
from events import (
    Command,
    CommandCancelled,
    CommandResult,
    CommandStatus,
    DomainError,
    Event,
    EventCatalogue,
    HookRegistry,
    HookRunStatus,
    InvalidInput,
    InvalidTransition,
    Problem,
)
from modules import BaseModule, LoadResult, Route, load_all
from workers.context import CommandContext, StopRequested
from workers.dead_letters import Replayer
from workers.failures import Failures
from workers.hook_runner import HookRunner
from workers.orchestrator import Orchestrator
from workers.orchestrators import orchestrator_for
from workers.platform_commands import AdminCommands
from workers.retry import RetryPolicy
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
        self._started: dict[str, Orchestrator[BaseModule]] = {}
        self.modules: LoadResult[Orchestrator[BaseModule]] = load_all(classes, self._start)
        for orchestrator in self.modules.loaded.values():
            orchestrator.attach_peers(self.modules.loaded)
        self.commands = {
            orch.module.command_name(route.handler): CommandRoute(orch, route)
            for orch in self.modules.loaded.values()
            for route in orch.module.routes
        }
        self.jobs = {
            orch.module.job_name(job.name): (orch, job)
            for orch in self.modules.loaded.values()
            for job in orch.module.jobs
        }
        services.dead_letters.ensure_indexes()
        services.history.ensure_indexes()
        self.failures = Failures(services, RetryPolicy.from_settings(services.settings))
        self.hook_runner = HookRunner(self.hooks, catalogue, services, self.failures)
        self.admin = AdminCommands(
            services.dead_letters,
            Replayer(services.dead_letters, services.state, services.sender),
            services.roles,
        )

    def _start(self, module_class: type[BaseModule]) -> Orchestrator[BaseModule]:
        secrets = self.services.secrets.resolve_all(
            [(s.name, s.default) for s in module_class.secrets], module_class.name
        )
        module = module_class()
        module.initialize(secrets)
        packages = self.services.settings.orchestrator_packages
        orchestrator = orchestrator_for(module_class, packages)(module, self.services)
        orchestrator.catalogue = self.catalogue
        orchestrator.ensure_indexes()
        orchestrator.attach_peers(self._started)  # its dependencies started before it
        orchestrator.on_start()
        orchestrator.register_hooks(self.hooks)
        self._started[module_class.name] = orchestrator
        return orchestrator

    # -- commands ---------------------------------------------------------------------------

    def run_command(self, command: Command) -> None:
        """Run ``command`` once; a redelivery of a finished command changes nothing."""
        attributes = {"hookline.command_id": command.id, "hookline.command": command.name}
        with tracing.span(
            f"command {command.name}", parent=command.traceparent, attributes=attributes
        ):
            self._run_command(command)

    def _run_command(self, command: Command) -> None:
        state = self.services.state
        if not self._begin(command):
            # Whoever ended it may not have woken its serial line (its hash expired, say).
            self.services.lines.wake(command)
            return
        ctx = CommandContext.for_command(
            command,
            self.catalogue,
            self.services.settings.max_event_depth,
            cancel_requested=functools.partial(state.cancel_requested, command.id),
        )
        try:
            result = self._call_handler(command, ctx)
        except StopRequested:
            state.fail(command.id, _stopped(command.id), CommandStatus.CANCELLED)
        except DomainError as e:
            state.fail(
                command.id,
                Problem.from_error(e, instance=f"/commands/{command.id}"),
                CommandStatus.FAILED,
            )
        else:
            self._publish(command.id, ctx.events)
            failpoint("command.after_events")
            state.succeed(command.id, result, seal_result(self.services.keys, command.id, result))
        failpoint("command.after_result")

    def _begin(self, command: Command) -> bool:
        """Start a run of ``command``; False when there is nothing to run (a redelivery)."""
        try:
            lease_s = self.services.settings.task_time_limit_s
            if self.services.state.start(command.id, lease_s) is None:
                log.warning("command %s is unknown or expired; dropped", command.id)
                return False
        except InvalidTransition as e:
            log.info(
                "command %s already finished; redelivery ignored",
                command.id,
                extra={"reason": str(e)},
            )
            return False
        except DeadlinePassed:
            log.info("command %s was not started before its deadline; expired", command.id)
            with contextlib.suppress(InvalidTransition):  # cancelled meanwhile
                self.services.state.expire(command.id)  # an end: its line moves on
            return False
        return True

    def _call_handler(self, command: Command, ctx: CommandContext) -> CommandResult:
        target = self.commands.get(command.name)
        if target is None and self.admin.handles(command.name):
            return self.admin.run(command)
        if target is None:
            raise DomainError(f"no loaded module handles command {command.name!r}")
        payload = opened_payload(self.services.keys, command)
        return target.orchestrator.run(target.route, ctx, parse_request(target.route, payload))

    def _publish(self, command_id: str, events: list[Event]) -> None:
        self.services.state.expect_events(command_id, [e.id for e in events])
        self.services.bus.publish(events)

    # -- jobs -----------------------------------------------------------------------------

    def run_job(self, name: str, payload: dict[str, Any]) -> None:
        """Run a module's job (``modules.Job``) with its payload, validated by its model."""
        found = self.jobs.get(name)
        if found is None:
            raise DomainError(f"no loaded module runs job {name!r}")
        orchestrator, job = found
        orchestrator.run_job(job, payload)

    # -- events ---------------------------------------------------------------------------

    def run_event(self, event: Event) -> None:
        """Run every hook for ``event`` in order, skipping the ones that already completed."""
        self.hook_runner.run_event(event)

    def run_hook(
        self, event: Event, hook_key: str, attempt: int, replay_of: str | None = None
    ) -> HookRunStatus:
        """Try one hook again (a retry or a replay)."""
        return self.hook_runner.run_hook(event, hook_key, attempt, replay_of)


def _stopped(command_id: str) -> Problem:
    return Problem.from_error(
        CommandCancelled("cancelled while it ran: its handler stopped at a checkpoint"),
        instance=f"/commands/{command_id}",
    )


def parse_request(route: Route, payload: dict[str, Any]) -> BaseModel | None:
    if route.request is None:
        return None
    try:
        return route.request.model_validate(payload)
    except ValidationError as e:
        # Without the input: it may be a password.
        errors = json.loads(e.json(include_url=False, include_input=False))
        raise InvalidInput("the command payload is invalid", errors=errors) from e
