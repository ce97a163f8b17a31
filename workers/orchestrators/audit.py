"""Audit orchestrator: stores one entry per event, keyed by the hook's run id."""

from __future__ import annotations

import contextlib

from pydantic import BaseModel
from pymongo.errors import DuplicateKeyError

from events import HookSink, Received
from modules.audit import AuditModule
from workers.orchestrator import Orchestrator


class AuditOrchestrator(Orchestrator[AuditModule]):
    module_class = AuditModule

    def record(self, event: Received[BaseModel], sink: HookSink) -> None:
        """Store the event's entry under the run id; a re-run finds it there and stops."""
        entry = self.module.entry(event.envelope)
        with contextlib.suppress(DuplicateKeyError):  # this run stored it before: it stays
            self.collection("events").insert_one({"_id": sink.run_id, **entry.model_dump()})
