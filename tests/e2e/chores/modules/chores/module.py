"""A long chore done step by step, cancellable between steps."""

from __future__ import annotations

from pydantic import BaseModel, Field

from modules.base import BaseModule
from modules.declarations import Permission, Route

RUN = "chores:run"


class ChoreRequest(BaseModel):
    steps: int = Field(ge=1, le=1000)
    step_s: float = Field(ge=0, le=1)


class ChoreResult(BaseModel):
    steps_done: int


class ChoresModule(BaseModule):
    name = "chores"
    description = "Test-only: a long chore whose route is cancellable."
    permissions = (Permission(RUN, description="Run a chore"),)
    routes = (
        Route(
            "POST",
            "/chores/run",
            "run_chore",
            request=ChoreRequest,
            permission=RUN,
            cancellable=True,
            summary="Do the chore's steps; a cancel stops it between two",
            response=ChoreResult,
        ),
    )
