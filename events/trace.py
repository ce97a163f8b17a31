"""The hook trace: one record per hook run, attached to the command that caused it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from events.hook_ids import hook_key


class HookRunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # this try failed; another is scheduled
    DEAD = "dead"  # the last try failed; a dead letter records it
    SKIPPED = "skipped"


class HookRun(BaseModel):
    model_config = ConfigDict(frozen=True)

    event: str
    event_id: str
    module: str
    handler: str
    priority: int
    status: HookRunStatus
    attempts: int  # which try of this hook on this event the record is about
    duration_ms: float
    error: str | None = None
    # What the run reached outside Hookline, when it is a delivery: an outbound webhook's
    # ``endpoint/webhook-id`` (``modules.webhooks``). None for a hook run.
    target: str | None = None

    @property
    def key(self) -> str:
        """The key of the hook this run belongs to (``events.hook_key``)."""
        return hook_key(self.module, self.handler)
