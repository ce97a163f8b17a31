"""Audit orchestrator: stores one entry per event, keyed by event id."""

from __future__ import annotations

from events import Event, EventSink
from modules.audit import AuditModule
from workers.orchestrator import Orchestrator


class AuditOrchestrator(Orchestrator[AuditModule]):
    module_class = AuditModule

    def record(self, event: Event, sink: EventSink) -> None:
        entry = self.module.entry(event)
        document = {"_id": entry.event_id, **entry.model_dump()}
        # Upsert by event id: a redelivered event rewrites the same entry.
        self.collection("events").replace_one({"_id": entry.event_id}, document, upsert=True)
