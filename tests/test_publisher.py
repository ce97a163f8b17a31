"""The gateway's publisher against a real Redis (state store and broker) that comes and goes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import cast

import pytest
import redis
from celery import Celery

from api_gateway.errors import ServiceUnavailable
from api_gateway.publisher import CommandPublisher
from core import keys
from core.celery_app import make_celery
from core.command_state import CommandStateStore
from core.redelivery import MessageLedger
from core.sender import Sender
from core.settings import Settings
from events import Command
from hookline.stack import ensure_redis
from tests.stack_fixtures import free_port


def publisher_for(app: Celery, client: redis.Redis) -> CommandPublisher:
    sender = Sender(app, MessageLedger(client, ttl_s=60))
    return CommandPublisher(app, CommandStateStore(client, ttl_s=60), sender)


def publish_all(publisher: CommandPublisher, commands: list[Command]) -> list[object]:
    async def run() -> list[object]:
        return await asyncio.gather(
            *(publisher.publish(c) for c in commands), return_exceptions=True
        )

    return asyncio.run(run())


def test_concurrent_commands_reach_the_broker_and_an_outage_is_a_503(tmp_path: Path) -> None:
    """Each concurrent command is recorded and queued; a dead Redis is a 503; recovery works."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    server = ensure_redis(url, tmp_path)
    app = make_celery(Settings(BROKER_URL=url), ["probe"])
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        publisher = publisher_for(app, client)
        commands = [Command(name="probe.work", payload={"value": n}) for n in range(20)]
        assert publish_all(publisher, commands) == [None] * 20
        queued = [
            json.loads(m)["headers"]["id"] for m in cast(list[str], client.lrange("probe", 0, -1))
        ]
        assert sorted(queued) == sorted(c.id for c in commands)
        assert {client.hget(keys.command(c.id), "status") for c in commands} == {"accepted"}

        server.stop()
        outcomes = publish_all(publisher, [Command(name="probe.work") for _ in range(3)])
        assert all(isinstance(o, ServiceUnavailable) for o in outcomes), outcomes

        server = ensure_redis(url, tmp_path)
        assert publish_all(publisher, [Command(name="probe.work")]) == [None]
    finally:
        client.close()
        app.close()
        server.stop()


@pytest.mark.parametrize("count", [1, 300])
def test_groups_larger_than_the_limit_are_split(tmp_path: Path, count: int) -> None:
    """However many requests wait at once, each command is published exactly once."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    server = ensure_redis(url, tmp_path)
    app = make_celery(Settings(BROKER_URL=url), ["probe"])
    client = redis.Redis.from_url(url)
    try:
        commands = [Command(name="probe.work") for _ in range(count)]
        assert publish_all(publisher_for(app, client), commands) == [None] * count
        assert client.llen("probe") == count
    finally:
        client.close()
        app.close()
        server.stop()


def test_a_command_the_broker_refuses_is_refused_for_good(tmp_path: Path) -> None:
    """With the state store up and the broker down: 503, the record says refused (no worker
    would run it), and its ledger note is gone (no sweep sends it again)."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    server = ensure_redis(url, tmp_path)
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"
    app = make_celery(Settings(BROKER_URL=dead_broker), ["probe"])
    client = redis.Redis.from_url(url)
    try:
        command = Command(name="probe.work")
        [outcome] = publish_all(publisher_for(app, client), [command])
        assert isinstance(outcome, ServiceUnavailable)
        assert cast(bytes, client.hget(keys.command(command.id), "status")) == b"refused"
        assert not client.exists(keys.message(command.id))
    finally:
        client.close()
        app.close()
        server.stop()
