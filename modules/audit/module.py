"""Audit: one record for every event on the bus, with its correlation id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from events import WILDCARD, Event
from modules.base import BaseModule
from modules.declarations import Hook, Index


class AuditEntry(BaseModel):
    """What the audit trail keeps of one event; keyed by the event id so replays add nothing."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    event: str
    payload: dict[str, Any]
    occurred_at: datetime
    correlation_id: str
    causation_id: str
    command_id: str


class AuditModule(BaseModule):
    name = "audit"
    description = "Records every event with its correlation id."
    hooks = (Hook(WILDCARD, "record", priority=100, context="audit trail of every event"),)
    indexes = (
        Index("events", (("correlation_id", 1),)),
        Index("events", (("occurred_at", -1),)),
    )

    @staticmethod
    def entry(event: Event) -> AuditEntry:
        return AuditEntry(
            event_id=event.id,
            event=event.name,
            payload=event.payload,
            occurred_at=event.occurred_at,
            correlation_id=event.correlation_id,
            causation_id=event.causation_id,
            command_id=event.command_id,
        )
