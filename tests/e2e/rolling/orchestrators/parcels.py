"""Parcels orchestrator: one record per hook run, with the payload as the hook got it."""

from __future__ import annotations

from events import HookSink, Received
from tests.e2e.rolling.modules.parcels import ParcelSent, ParcelsModule
from workers.orchestrator import Orchestrator


class ParcelsOrchestrator(Orchestrator[ParcelsModule]):
    module_class = ParcelsModule

    def record(self, event: Received[ParcelSent], sink: HookSink) -> None:
        self.collection("seen").replace_one(
            {"_id": sink.run_id},
            {"event_id": event.id, "version": event.envelope.version, **event.payload.model_dump()},
            upsert=True,
        )
