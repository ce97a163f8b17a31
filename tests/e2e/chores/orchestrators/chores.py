"""Chores orchestrator: a step, then a checkpoint, and each step done is recorded."""

from __future__ import annotations

import time

from events import CommandResult
from tests.e2e.chores.modules.chores import ChoreRequest, ChoreResult, ChoresModule
from workers.context import CommandContext
from workers.orchestrator import Orchestrator


class ChoresOrchestrator(Orchestrator[ChoresModule]):
    module_class = ChoresModule

    def run_chore(self, ctx: CommandContext, request: ChoreRequest) -> CommandResult:
        for step in range(request.steps):
            ctx.checkpoint()
            time.sleep(request.step_s)
            self.collection("steps").insert_one({"command_id": ctx.command.id, "step": step})
        return self.result(ChoreResult(steps_done=request.steps))
