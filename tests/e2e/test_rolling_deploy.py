"""A rolling deploy: events a version-1 worker queued are handled by a version-2 worker.

The queue is filled while no worker runs, as a deploy leaves it: envelopes of
``parcel_sent`` version 1 (one as written before envelopes carried a version,
one that says 1) and one of version 2. Then a real worker starts with the
test-only ``parcels`` module (``tests/e2e/rolling``), whose spec is version 2
with an upcaster from 1, and its hook gets every one of them as version 2.
The test has a broker (Redis) of its own, so no other worker takes its events.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from core.celery_app import EVENTS_QUEUE, event_task_name, make_celery
from core.settings import Settings
from events import Event
from hookline.processes import spawn, terminate
from hookline.stack import ensure_local_secrets, ensure_redis, worker_command
from tests.e2e.rolling import MODULE_PACKAGE, ORCHESTRATOR_PACKAGE
from tests.stack_fixtures import Servers, free_port

pytestmark = pytest.mark.e2e
REPO_ROOT = Path(__file__).resolve().parents[2]
Doc = dict[str, Any]


def _envelope(version: int | None, payload: Doc) -> Doc:
    """A ``parcel_sent`` envelope as a worker of ``version`` wrote it (None: before versions)."""
    event = Event(
        id=uuid.uuid4().hex,
        name="parcel_sent",
        payload=payload,
        version=version or 1,
        correlation_id=uuid.uuid4().hex,
        causation_id=uuid.uuid4().hex,
        command_id=uuid.uuid4().hex,
    )
    data = event.model_dump(mode="json")
    if version is None:
        del data["version"]
    return data


@pytest.fixture
def broker_url(tmp_path: Path) -> Iterator[str]:
    handle = ensure_redis(f"redis://127.0.0.1:{free_port()}/0", tmp_path)
    try:
        yield handle.url
    finally:
        handle.stop()


def test_events_queued_at_version_1_are_upcast_by_a_version_2_worker(
    servers: Servers, broker_url: str, tmp_path: Path
) -> None:
    """Three queued events, then a version-2 worker: its hook records each in grams."""
    queued = [
        _envelope(None, {"parcel_id": "old", "weight_kg": 1.5}),
        _envelope(1, {"parcel_id": "one", "weight_kg": 2}),
        _envelope(2, {"parcel_id": "two", "weight_g": 300}),
    ]
    app = make_celery(Settings(BROKER_URL=broker_url))
    try:
        for envelope in queued:
            app.send_task(
                event_task_name("parcel_sent"),
                args=[envelope],
                queue=EVENTS_QUEUE,
                task_id=envelope["id"],
            )
    finally:
        app.close()

    data_dir = tmp_path / "data"
    ensure_local_secrets(data_dir)
    db_name = f"rolling_{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])),
        "REDIS_URL": broker_url,
        "BROKER_URL": broker_url,
        "MONGO_URL": servers.mongo_url,
        "HOOKLINE_MONGO_DB": db_name,
        "HOOKLINE_DATA_DIR": str(data_dir),
        "HOOKLINE_MODULE_PACKAGES": MODULE_PACKAGE,
        "HOOKLINE_ORCHESTRATOR_PACKAGES": ORCHESTRATOR_PACKAGE,
        "HOOKLINE_MODULES": "parcels",
        "HOOKLINE_WORKER_METRICS_PORT": str(free_port()),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "PYTHONUNBUFFERED": "1",
    }
    (tmp_path / "metrics").mkdir()
    mongo: MongoClient[Doc] = MongoClient(servers.mongo_url, tz_aware=True)
    seen = mongo[db_name]["parcels_seen"]
    log = tmp_path / "worker.log"
    with log.open("ab") as output:
        worker = spawn(worker_command(), env, output=output)
    try:
        deadline = time.monotonic() + 25
        while seen.count_documents({}) < len(queued):
            assert worker.poll() is None, log.read_text()[-4000:]
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            time.sleep(0.2)
        records = {d["parcel_id"]: (d["weight_g"], d["version"]) for d in seen.find({})}
    finally:
        terminate(worker)
        with contextlib.suppress(Exception):
            mongo.drop_database(db_name)
        mongo.close()
    assert records == {"old": (1500, 1), "one": (2000, 1), "two": (300, 2)}
