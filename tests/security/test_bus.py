"""Only JSON travels on the bus: a pickled message is never deserialised by a worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from celery import Celery

from core.celery_app import make_celery
from core.settings import Settings
from tests.conftest import RunningStack
from tests.e2e.helpers import signed_up

pytestmark = pytest.mark.e2e


class Canary:
    """Unpickling this creates a file: proof that someone deserialised it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


@pytest.fixture
def attacker(stack: RunningStack) -> Iterator[Celery]:
    """A broker client that is willing to send pickle (Hookline's own never is)."""
    app = Celery("attacker", broker=stack.env["BROKER_URL"], set_as_current=False)
    yield app
    app.close()


def test_the_apps_accept_json_only() -> None:
    """Gateway and workers build their Celery app to send and accept JSON only."""
    conf = make_celery(Settings()).conf
    assert (conf.accept_content, conf.task_serializer) == (["json"], "json")


def test_a_pickled_command_is_refused_by_the_worker(
    attacker: Celery, client: httpx.Client, redis_client: redis.Redis, tmp_path: Path
) -> None:
    """A pickled wallet.deposit is taken off the queue unread; a JSON command after it runs."""
    canary = tmp_path / "unpickled"
    attacker.send_task("wallet.deposit", args=[Canary(canary)], queue="wallet", serializer="pickle")
    _, auth = signed_up(client)
    after = client.post(
        "/wallet/deposit", json={"amount": 1}, headers={**auth, "Prefer": "wait=20"}
    )
    assert after.status_code == 200
    assert redis_client.llen("wallet") == 0  # consumed (and refused), not left waiting
    assert not canary.exists()
