"""The fence in the command store: an unconfirmed command never runs once its time is up,
and that holds through a Redis restart (append-only file), whoever moves first."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from core import keys
from core.command_state import CommandRefused, CommandStateStore, CommandUnconfirmed
from events import Command, CommandStatus
from hookline.stack import ensure_redis
from tests.stack_fixtures import free_port

FENCE_S = 0.5


def store(url: str) -> tuple[redis.Redis, CommandStateStore]:
    client = redis.Redis.from_url(url, decode_responses=True)
    return client, CommandStateStore(client, ttl_s=60, fence_s=FENCE_S)


def status(client: redis.Redis, command: Command) -> str | None:
    found: str | None = client.hget(keys.command(command.id), "status")  # type: ignore[assignment]
    return found


def test_a_worker_waits_for_the_confirmation_then_runs(tmp_path: Path) -> None:
    """Taken off the broker before its gateway confirmed it: not yet; confirmed: it starts."""
    server = ensure_redis(f"redis://127.0.0.1:{free_port()}/0", tmp_path)
    client, state = store(server.url)
    try:
        command = Command(name="probe.work")
        state.record_publishing([command])
        with pytest.raises(CommandUnconfirmed) as early:
            state.start(command.id, lease_s=5)
        assert 0 < early.value.fence_in_s <= FENCE_S
        assert state.confirm([command.id]) == [True]
        assert state.start(command.id, lease_s=5) is CommandStatus.ACCEPTED
    finally:
        client.close()
        server.stop()


def test_past_the_fence_the_worker_refuses_it_and_a_late_confirmation_fails(
    tmp_path: Path,
) -> None:
    """Still unconfirmed after a Redis restart: refused for good; the gateway, if it ever
    got to confirm, learns it lost (and answers 503)."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    server = ensure_redis(url, tmp_path)
    client, state = store(url)
    command = Command(name="probe.work")
    try:
        state.record_publishing([command])
        client.close()
        server.stop()
        server = ensure_redis(url, tmp_path)  # the record comes back from the append-only file
        client, state = store(url)
        assert status(client, command) == "publishing"
        time.sleep(FENCE_S)
        with pytest.raises(CommandRefused):
            state.start(command.id, lease_s=5)
        assert status(client, command) == "refused"
        assert state.confirm([command.id]) == [False]
        with pytest.raises(CommandRefused):  # every later delivery too
            state.start(command.id, lease_s=5)
    finally:
        client.close()
        server.stop()


def test_a_gateway_that_refuses_first_wins_too(tmp_path: Path) -> None:
    server = ensure_redis(f"redis://127.0.0.1:{free_port()}/0", tmp_path)
    client, state = store(server.url)
    try:
        command = Command(name="probe.work")
        state.record_publishing([command])
        state.refuse([command.id])
        assert state.confirm([command.id]) == [False]
        assert status(client, command) == "refused"
    finally:
        client.close()
        server.stop()
