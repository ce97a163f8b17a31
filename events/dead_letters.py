"""Dead letters: work that failed after its last try, kept so an operator can replay it.

A dead letter holds the envelope that failed (a command, or the event a hook
ran on), the error and the number of tries. Its id derives from what failed, so
the same command or (event, hook) dying again after a replay updates the same
letter instead of adding another.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from events.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE


class DeadLetterKind(StrEnum):
    COMMAND = "command"  # a command task gave up; replay re-submits the command
    HOOK = "hook"  # one hook gave up on one event; replay runs that hook alone
    EVENT = "event"  # an event task could not even dispatch; replay re-publishes the event


class DeadLetterStatus(StrEnum):
    DEAD = "dead"  # waiting for an operator
    REPLAYING = "replaying"  # sent again; not finished yet
    RESOLVED = "resolved"  # a replay ran to an outcome


class FailureKind(StrEnum):
    TRANSIENT = "transient"  # a store or the broker did not answer
    POISON = "poison"  # anything else: the same input is likely to fail again


class DeadLetter(BaseModel):
    """What failed for good, why, and after how many tries."""

    model_config = ConfigDict(frozen=True)

    id: str
    kind: DeadLetterKind
    name: str = Field(description="the command name, or the event name for hooks and events")
    hook: str | None = Field(None, description="`module.handler` of the hook that failed")
    command_id: str = Field(description="the command the failed work belongs to")
    envelope: dict[str, Any] = Field(description="the command or event, as it was sent")
    error: str
    failure: FailureKind
    attempts: int
    status: DeadLetterStatus = DeadLetterStatus.DEAD
    dead_at: datetime
    replays: int = 0
    replayed_at: datetime | None = None
    resolved_at: datetime | None = None

    @staticmethod
    def command_letter_id(command_id: str) -> str:
        return f"command:{command_id}"

    @staticmethod
    def hook_letter_id(event_id: str, hook_key: str) -> str:
        return f"hook:{event_id}:{hook_key}"

    @staticmethod
    def event_letter_id(event_id: str) -> str:
        return f"event:{event_id}"


class DeadLetterQuery(BaseModel):
    """Listing dead letters: newest first, optionally of one status, a page at a time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: DeadLetterStatus | None = None
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    before: datetime | None = Field(None, description="`dead_at` of the last letter seen")


class DeadLetterRef(BaseModel):
    """Names one dead letter (the payload of show and replay)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=300)
