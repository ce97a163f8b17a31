"""Probe orchestrator: upsert one item by command id, emit ``probe_done``; the hook only reads."""

from __future__ import annotations

from bench.probe.modules.probe import ProbeDone, ProbeModule, ProbeRequest, ProbeResult
from events import CommandResult, EventSink, Received
from workers.context import CommandContext
from workers.documents import to_document
from workers.orchestrator import Orchestrator


class ProbeOrchestrator(Orchestrator[ProbeModule]):
    module_class = ProbeModule

    def work(self, ctx: CommandContext, request: ProbeRequest) -> CommandResult:
        item = self.module.item(ctx.command.id, request)
        # Keyed by the command id, so a redelivery rewrites the same document.
        self.collection("items").replace_one(
            {"_id": item.item_id}, to_document(item, "item_id"), upsert=True
        )
        ctx.emit("probe_done", self.module.done(item))
        return self.result(ProbeResult(item_id=item.item_id), status_code=201)

    def on_done(self, event: Received[ProbeDone], sink: EventSink) -> None:
        self.module.receipt(event.payload)
