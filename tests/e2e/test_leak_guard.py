"""The leak guard finds a secret planted in each place it searches, on real servers.

Each value is random and planted in one place: a Redis hash field, a MongoDB
document, a log line, a message published through Celery on the Redis broker, and
a task Flower shows (the username of a user registered on a private stack whose
worker and gateway send task events: usernames are shown, unlike passwords). The
guard must find each where it was planted, and must not find a value never used.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
import redis
from pymongo.database import Database

from core.celery_app import make_celery
from core.settings import Settings
from tests.e2e.helpers import register
from tests.leaks import BusRecorder, Leak, assert_no_leaks, scan, watched_stack
from tests.stack_fixtures import Servers

pytestmark = pytest.mark.e2e

FLOWER_WAIT_S = 15.0
_POLL_S = 0.2


class Where(TypedDict):
    """Where ``scan`` and ``assert_no_leaks`` look."""

    redis_url: str
    mongo_url: str
    mongo_db: str
    logs: list[Path]
    recorder: BusRecorder
    flower_url: str


def token(kind: str) -> str:
    """A random value that fits anywhere, a username included (at most 32 characters)."""
    return f"{kind}{uuid.uuid4().hex[:24]}"


@contextlib.contextmanager
def removed_afterwards(redis_url: str, *keys: str) -> Iterator[redis.Redis]:
    """A client of the test database; ``keys`` are deleted on exit, whatever happened."""
    client = redis.Redis.from_url(redis_url)
    try:
        yield client
    finally:
        client.delete(*keys)
        client.close()


def publish_through_celery(broker_url: str, queue: str, args: list[Any]) -> None:
    """One task message onto ``queue`` of the Redis broker, as Hookline's apps build them."""
    app = make_celery(Settings(BROKER_URL=broker_url))
    try:
        app.send_task("leakguard.nothing", args=args, queue=queue)
    finally:
        app.close()


def wait_for_flower(flower_url: str, path: str, found: str = "") -> None:
    """Until Flower's ``path`` answers with a non-empty JSON object holding ``found``."""
    deadline = time.monotonic() + FLOWER_WAIT_S
    while True:
        response = httpx.get(f"{flower_url}{path}", timeout=5)
        if response.status_code == 200 and response.json() and found in response.text:
            return
        assert time.monotonic() < deadline, f"Flower showed nothing at {path}: {response.text}"
        time.sleep(_POLL_S)


def places(leaks: list[Leak], label: str) -> set[str]:
    return {leak.place for leak in leaks if leak.label == label}


def test_the_guard_finds_each_planted_secret_where_it_was_planted(
    servers: Servers,
    stack_env: dict[str, str],
    mongo_db: Database[dict[str, Any]],
    tmp_path: Path,
) -> None:
    secrets = {
        "redis secret": token("r"),
        "mongo secret": token("m"),
        "log secret": token("l"),
        "broker secret": token("b"),
        "flower secret": token("f_"),
        "clean value": token("c"),  # planted nowhere
    }
    key, queue = f"leakguard:{uuid.uuid4().hex}", f"leakguard-{uuid.uuid4().hex}"
    log = tmp_path / "gateway.log"
    with (
        removed_afterwards(servers.redis_url, key, queue, f"_kombu.binding.{queue}") as client,
        watched_stack(stack_env, tmp_path, FLOWER_ENABLE_EVENTS="false") as (stack, flower_url),
    ):
        wait_for_flower(flower_url, "/api/workers?status=true")  # its events arrive
        with BusRecorder(servers.redis_url) as recorder:
            client.hset(key, "result", json.dumps({"token": secrets["redis secret"]}))
            publish_through_celery(
                servers.redis_url, queue, [{"password": secrets["broker secret"]}]
            )
        mongo_db["users"].insert_one({"_id": "ada", "note": secrets["mongo secret"]})
        log.write_text(f"starting\nready\nPOST /login {secrets['log secret']}\n")
        user = {
            "email": f"{secrets['flower secret']}@example.com",
            "username": secrets["flower secret"],
            "password": "not the point here",
        }
        with httpx.Client(base_url=stack.base_url, timeout=20) as http:
            assert register(http, user).status_code == 201
        wait_for_flower(flower_url, "/api/tasks", found=secrets["flower secret"])

        where = Where(
            redis_url=servers.redis_url,
            mongo_url=servers.mongo_url,
            mongo_db=mongo_db.name,
            logs=[log],
            recorder=recorder,
            flower_url=flower_url,
        )
        leaks = scan(secrets, **where)
        clean = {"clean value": secrets["clean value"]}
        assert_no_leaks(clean, **where)
        with pytest.raises(AssertionError) as failure:
            assert_no_leaks(secrets, **where)

    assert not recorder.overflowed and recorder.error is None
    assert places(leaks, "redis secret") == {f"redis key {key} field result", f"bus: HSET {key}"}
    assert places(leaks, "mongo secret") == {f"mongo {mongo_db.name}.users _id=ada"}
    assert places(leaks, "log secret") == {"log gateway.log:3"}
    assert places(leaks, "broker secret") == {
        f"bus: LPUSH {queue} (decoded body of leakguard.nothing)",
        f"redis key {queue} item 0 (decoded body of leakguard.nothing)",
    }
    flower = {p.rsplit(" ", 1)[-1] for p in places(leaks, "flower secret") if "flower" in p}
    assert {"/api/tasks", "args"} <= flower
    assert places(leaks, "clean value") == set()
    report = str(failure.value)
    assert all(label in report for label in secrets if label != "clean value")
    for value in secrets.values():
        assert value not in report
        assert all(value not in str(leak) for leak in leaks)


def test_the_recorder_keeps_at_most_its_limit_says_so_and_stops(
    servers: Servers, mongo_db: Database[dict[str, Any]]
) -> None:
    """Past ``max_lines`` lines are counted, not kept; on exit its thread has ended."""
    key = f"leakguard:{uuid.uuid4().hex}"
    with removed_afterwards(servers.redis_url, key) as client:
        client.ping()  # connected (and its SELECT sent) before the recording starts
        with BusRecorder(servers.redis_url, max_lines=3) as recorder:
            for value in range(5):
                client.set(key, value)
    # Other clients of this database (a session's stack) may have had lines in between.
    kept = [line.args for line in recorder.lines]
    ours = [args for args in kept if key.encode() in args]
    assert len(kept) == 3 and ours == [(b"SET", key.encode(), b"%d" % v) for v in range(len(ours))]
    assert recorder.dropped >= 5 - len(ours) and recorder.overflowed
    assert not [t for t in threading.enumerate() if t.name == "bus-recorder"]
    with pytest.raises(AssertionError, match="dropped"):
        assert_no_leaks(
            {"nothing": token("n")},
            redis_url=servers.redis_url,
            mongo_url=servers.mongo_url,
            mongo_db=mongo_db.name,
            recorder=recorder,
        )
