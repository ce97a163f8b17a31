"""What the gateway puts on the broker, and how waiting requests are woken."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
import redis.asyncio
from celery import Celery

from api_gateway.commands import MAY_BE_DONE, wait_for
from api_gateway.publisher import CommandPublisher
from api_gateway.services import GatewayServices
from api_gateway.watcher import CommandWatcher
from core.celery_app import make_celery
from core.command_state import CommandDocument
from core.sender import Sender
from core.settings import Settings
from events import Actor, Command, CommandStatus


@pytest.fixture
def memory_broker() -> Iterator[Celery]:
    app = make_celery(Settings(BROKER_URL="memory://"), ["wallet"])
    yield app
    app.close()


class RecordingState:
    """Stands in for the Redis state store: remembers what was recorded and confirmed."""

    def __init__(self) -> None:
        self.recorded: list[str] = []
        self.confirmed: list[str] = []

    def record_publishing(self, commands: list[Command]) -> None:
        self.recorded += [c.id for c in commands]

    def confirm(self, command_ids: list[str]) -> list[bool]:
        self.confirmed += command_ids
        return [True] * len(command_ids)

    def refuse(self, command_ids: list[str]) -> None:
        self.recorded = [i for i in self.recorded if i not in command_ids]


def published(app: Celery, queue: str) -> Any:
    with app.connection_for_read() as connection:
        simple = connection.SimpleQueue(queue)
        try:
            return simple.get(timeout=1)
        finally:
            simple.close()


def test_task_events_are_off_unless_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers and publishers send no task events by default; HOOKLINE_TASK_EVENTS turns them on."""
    monkeypatch.delenv("HOOKLINE_TASK_EVENTS", raising=False)
    quiet = make_celery(Settings())
    assert not quiet.conf.worker_send_task_events and not quiet.conf.task_send_sent_event
    monkeypatch.setenv("HOOKLINE_TASK_EVENTS", "true")
    loud = make_celery(Settings())
    assert loud.conf.worker_send_task_events and loud.conf.task_send_sent_event


def test_published_command_shows_its_payload_with_secrets_masked(memory_broker: Celery) -> None:
    """The message carries the whole envelope; its argsrepr (what Flower shows) masks secrets."""
    command = Command(
        name="wallet.deposit",
        payload={"password": "hunter22", "amount": 5},
        actor=Actor(user_id="u1"),
    )
    state = RecordingState()
    publisher = CommandPublisher(memory_broker, state, Sender(memory_broker, None))  # type: ignore[arg-type]
    asyncio.run(publisher.publish(command))
    assert state.recorded == state.confirmed == [command.id]
    message = published(memory_broker, "wallet")
    assert message.headers["id"] == command.id
    shown = message.headers["argsrepr"]
    assert "wallet.deposit" in shown and command.id in shown and '"amount": 5' in shown
    assert "hunter22" not in shown
    assert message.payload[0][0]["payload"] == {"password": "hunter22", "amount": 5}


def test_waiters_wake_only_on_the_changes_they_asked_for() -> None:
    """A wait for the outcome ignores `running`; a plain watch wakes on every change."""

    async def scenario() -> tuple[bool, bool, bool]:
        watcher = CommandWatcher(redis.asyncio.Redis())
        async with (
            watcher.watch("c1", MAY_BE_DONE) as outcome,
            watcher.watch("c1") as every,
        ):
            watcher.notify("c1", "running")
            watcher.notify("c2", "succeeded")
            woke_early = outcome.is_set()
            woke_every = every.is_set()
            watcher.notify("c1", "settled")
            return woke_early, woke_every, outcome.is_set()

    assert asyncio.run(scenario()) == (False, True, True)


def test_a_wait_reads_a_finished_command_once_when_its_hooks_settle_after() -> None:
    """Finished with a hook pending, then ``settled``: done, without reading it again."""
    finished = CommandDocument(
        command_id="c1",
        name="wallet.deposit",
        status=CommandStatus.SUCCEEDED,
        owner="user:u1",
        attempts=1,
        submitted_at=datetime.now(UTC),
        hooks_pending=1,
    )
    reads: list[str] = []

    async def read(command_id: str) -> CommandDocument:
        reads.append(command_id)
        return finished

    async def scenario() -> CommandDocument | None:
        watcher = CommandWatcher(redis.asyncio.Redis())
        services = SimpleNamespace(settings=Settings(), state=SimpleNamespace(read=read))
        async with watcher.watch("c1", MAY_BE_DONE) as changed:
            waiting = asyncio.create_task(
                wait_for(cast(GatewayServices, services), "c1", changed, 5)
            )
            watcher.notify("c1", "succeeded")
            while not reads:
                await asyncio.sleep(0)
            watcher.notify("c1", "settled")
            return await waiting

    done = asyncio.run(scenario())
    assert done is not None and done.is_done and done.status is CommandStatus.SUCCEEDED
    assert reads == ["c1"]
