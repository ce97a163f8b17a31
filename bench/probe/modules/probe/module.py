"""The probe module: pure decisions the benchmark's Hookline and Celery runs share."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from events import EventSpec, utc_now
from modules.base import BaseModule
from modules.declarations import Hook, Route


class ProbeRequest(BaseModel):
    value: int = Field(ge=0)


class ProbeItem(BaseModel):
    """The one document a probe command writes, keyed by the command id."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    value: int
    created_at: datetime


class ProbeDone(BaseModel):
    item_id: str
    value: int


class ProbeResult(BaseModel):
    item_id: str


class ProbeReceipt(BaseModel):
    """What the probe hook works out from its event; it writes nothing."""

    item_id: str
    checksum: int


class ProbeModule(BaseModule):
    name = "probe"
    description = "Benchmark probe: one write, one event, one hook."
    routes = (
        Route(
            "POST",
            "/probe/work",
            "work",
            request=ProbeRequest,
            success_status=201,
            summary="Write one item and emit probe_done",
        ),
    )
    events = (EventSpec("probe_done", ProbeDone, "A probe item was written."),)
    hooks = (Hook("probe_done", "on_done", context="benchmark hook"),)

    @staticmethod
    def item(item_id: str, request: ProbeRequest) -> ProbeItem:
        return ProbeItem(item_id=item_id, value=request.value, created_at=utc_now())

    @staticmethod
    def done(item: ProbeItem) -> ProbeDone:
        return ProbeDone(item_id=item.item_id, value=item.value)

    @staticmethod
    def receipt(done: ProbeDone) -> ProbeReceipt:
        return ProbeReceipt(item_id=done.item_id, checksum=sum(done.item_id.encode()) + done.value)
