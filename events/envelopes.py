"""The envelopes that travel on the bus: commands, the events they cause, results."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from events.problem import Problem

# Namespace for deterministic event ids: the same command and position give the same id.
EVENT_ID_NAMESPACE = uuid.UUID("6f1d2c1e-4b7a-4f0e-9a51-8d3c2b1a0e77")


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Actor(BaseModel):
    """Who submitted a command: a user, an API key, or nobody (public routes)."""

    model_config = ConfigDict(frozen=True)

    user_id: str | None = None
    roles: tuple[str, ...] = ()
    api_key_id: str | None = None
    # The permissions an API key was given; users get theirs from their roles.
    scopes: tuple[str, ...] = ()

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None and self.api_key_id is None

    @property
    def principal(self) -> str:
        """A stable name for ownership checks: ``user:<id>``, ``key:<id>`` or ``anonymous``."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.api_key_id is not None:
            return f"key:{self.api_key_id}"
        return "anonymous"


class Command(BaseModel):
    """A request to change (or read) state, addressed to one module by name."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_id)
    name: str
    payload: dict[str, Any] = Field(default_factory=dict)
    actor: Actor = Field(default_factory=Actor)
    correlation_id: str = Field(default_factory=new_id)
    submitted_at: datetime = Field(default_factory=utc_now)

    @property
    def module(self) -> str:
        return self.name.split(".", 1)[0]


class Event(BaseModel):
    """Something that happened; dispatched to every hook registered for its name."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    payload: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime = Field(default_factory=utc_now)
    correlation_id: str
    causation_id: str
    command_id: str
    depth: int = 0

    @staticmethod
    def derive_id(cause_id: str, position: int) -> str:
        """The id of the ``position``-th event caused by ``cause_id``; stable across retries."""
        return uuid.uuid5(EVENT_ID_NAMESPACE, f"{cause_id}/{position}").hex


class CommandResult(BaseModel):
    """What a command produced, with the HTTP status it maps to."""

    model_config = ConfigDict(frozen=True)

    status_code: int = 200
    body: dict[str, Any] | list[Any] | None = None


class CommandOutcome(BaseModel):
    """A finished command as a client sees it: a result or a problem."""

    model_config = ConfigDict(frozen=True)

    result: CommandResult | None = None
    error: Problem | None = None

    @property
    def status_code(self) -> int:
        if self.error is not None:
            return self.error.status
        return self.result.status_code if self.result else 200
