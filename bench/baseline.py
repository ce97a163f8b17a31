"""The baseline: the probe's work as two plain Celery tasks (``celery -A bench.baseline worker``).

``record`` does the probe command's write (the same upsert, through the same
MongoDB client settings) and then ``.delay``s ``on_done`` in place of the hook;
``on_done`` does what the probe hook does. Results go to a Redis result
backend. Delivery settings match Hookline's (late acks, reject on worker loss,
prefetch 1, confirmed publishes): the same guarantees, without Hookline's
command state, hook ledger, task events or HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from celery import Celery, Task, signals
from pymongo import MongoClient
from pymongo.collection import Collection

from bench.probe.modules.probe import ProbeDone, ProbeModule, ProbeRequest, ProbeResult
from core.settings import Settings
from core.stores import connect_mongo, mongo_database
from workers.documents import to_document

QUEUE = "baseline"
RECORD_TASK = "baseline.record"
RESULT_TTL_S = 3600


@dataclass(frozen=True)
class Baseline:
    """The baseline app and its two tasks, built for one set of settings."""

    app: Celery
    record: Task
    on_done: Task


def build(settings: Settings) -> Baseline:
    app = Celery(
        "baseline", broker=settings.broker_url, backend=settings.redis_url, set_as_current=False
    )
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            "confirm_publish": True,
        },
        task_default_queue=QUEUE,
        result_expires=RESULT_TTL_S,
        worker_hijack_root_logger=False,
        enable_utc=True,
    )
    items = _Items(settings)

    @app.task(name="baseline.on_done")  # type: ignore[untyped-decorator]
    def on_done(payload: dict[str, Any]) -> dict[str, Any]:
        """The probe hook: validate the event payload and work out the receipt."""
        return ProbeModule.receipt(ProbeDone.model_validate(payload)).model_dump(mode="json")

    @app.task(name=RECORD_TASK, bind=True)  # type: ignore[untyped-decorator]
    def record(self: Task, value: int, hook_id: str) -> dict[str, Any]:
        """The probe command: one upsert keyed by the task id, then the hook as a second task."""
        item = ProbeModule.item(self.request.id, ProbeRequest(value=value))
        items.get().replace_one({"_id": item.item_id}, to_document(item, "item_id"), upsert=True)
        on_done.apply_async(args=[ProbeModule.done(item).model_dump(mode="json")], task_id=hook_id)
        return ProbeResult(item_id=item.item_id).model_dump(mode="json")

    signals.worker_process_init.connect(items.connect, weak=False)
    return Baseline(app, record, on_done)


class _Items:
    """The probe's collection, through a client each worker process opens after the fork."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: MongoClient[dict[str, Any]] | None = None

    def connect(self, **_: Any) -> None:
        self._client = connect_mongo(self._settings)

    def get(self) -> Collection[dict[str, Any]]:
        if self._client is None:  # solo pool: no child process was initialised
            self.connect()
        assert self._client is not None
        return mongo_database(self._client, self._settings)[ProbeModule.collection_name("items")]


app = build(Settings()).app
