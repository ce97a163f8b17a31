"""The lifecycle's Redis scripts against a real Redis: cancel from every status, the
schedule's release and lease, the deadline at start, a scheduled command's in-flight slot."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, cast

import pytest
import redis
import redis.asyncio

from api_gateway.in_flight import InFlightLimiter
from core import keys
from core.command_state import (
    AsyncCommandStateStore,
    CancelAction,
    CommandStateStore,
    CommandUnconfirmed,
    DeadlinePassed,
)
from core.schedule import ScheduleReleaser
from events import Actor, Command, CommandStatus, utc_now
from hookline.stack import ensure_redis
from tests.stack_fixtures import free_port

TTL_S = 60


class Sent:
    """Stands in for the sender: what the release published (the bus is not under test)."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def send(self, messages: Any) -> None:
        self.ids += [m.task_id for m in messages]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis of the module's own: no stack's worker releases its schedule."""
    server = ensure_redis(f"redis://127.0.0.1:{free_port()}/0", tmp_path_factory.mktemp("redis"))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def client(url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def state(client: redis.Redis) -> CommandStateStore:
    return CommandStateStore(client, TTL_S)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def _cancel(url: str, command_id: str, cancellable: bool) -> Any:
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        return await AsyncCommandStateStore(client, TTL_S).cancel(command_id, cancellable)
    finally:
        await client.aclose()


async def _schedule(url: str, command: Command) -> None:
    client = redis.asyncio.Redis.from_url(url, decode_responses=True)
    try:
        await AsyncCommandStateStore(client, TTL_S).record_scheduled(command)
    finally:
        await client.aclose()


def accepted(state: CommandStateStore, **fields: Any) -> Command:
    command = Command(name="wallet.deposit", actor=Actor(user_id="u1"), **fields)
    state.record_publishing([command])
    state.confirm([command.id])
    return command


def status(client: redis.Redis, command: Command) -> str | None:
    found: str | None = client.hget(keys.command(command.id), "status")  # type: ignore[assignment]
    return found


@pytest.mark.parametrize("cancellable", [False, True])
def test_a_command_that_has_not_run_or_waits_between_tries_is_cancelled(
    url: str, client: redis.Redis, state: CommandStateStore, cancellable: bool
) -> None:
    """Accepted, and retrying (between tries): cancelled for good, whatever the route."""
    queued = accepted(state)
    between = accepted(state)
    state.start(between.id, lease_s=5)
    state.transition(between.id, CommandStatus.RETRYING)
    for command in (queued, between):
        done = run(_cancel(url, command.id, cancellable))
        assert done.action is CancelAction.CANCELLED
        assert status(client, command) == "cancelled"
        document = state.read(command.id)
        assert document is not None and document.error is not None
        assert document.error.type.endswith("/command-cancelled")


def test_a_running_command_is_asked_to_stop_only_on_a_cancellable_route(
    url: str, client: redis.Redis, state: CommandStateStore
) -> None:
    """Running: refused when not cancellable (it goes on), a request when it is."""
    command = accepted(state)
    state.start(command.id, lease_s=5)
    refused = run(_cancel(url, command.id, False))
    assert (refused.previous, refused.action) == (CommandStatus.RUNNING, CancelAction.REFUSED)
    assert not state.cancel_requested(command.id)
    asked = run(_cancel(url, command.id, True))
    assert asked.action is CancelAction.REQUESTED
    assert state.cancel_requested(command.id) and status(client, command) == "running"


def test_a_finished_or_unknown_command_is_not_cancelled(
    url: str, client: redis.Redis, state: CommandStateStore
) -> None:
    """Succeeded stays succeeded; an unknown id is None (and leaves no stub)."""
    command = accepted(state)
    state.start(command.id, lease_s=5)
    state.transition(command.id, CommandStatus.SUCCEEDED)
    assert run(_cancel(url, command.id, True)).action is CancelAction.REFUSED
    assert status(client, command) == "succeeded"
    unknown = Command(name="wallet.deposit")
    assert run(_cancel(url, unknown.id, True)) is None
    assert not client.exists(keys.command(unknown.id))


def test_a_start_after_the_deadline_is_refused(state: CommandStateStore) -> None:
    """Accepted with a deadline already past: the start raises, and it does not run."""
    command = accepted(state, deadline=utc_now() - timedelta(seconds=1))
    with pytest.raises(DeadlinePassed):
        state.start(command.id, lease_s=5)
    state.expire(command.id)
    document = state.read(command.id)
    assert document is not None and document.status is CommandStatus.EXPIRED


def test_the_release_publishes_what_is_due_and_one_process_holds_the_lease(
    url: str, client: redis.Redis, state: CommandStateStore
) -> None:
    """Two due, one not yet, one cancelled, one past its deadline: the holder of the lease
    publishes the two, marks them accepted and takes them off the schedule; the cancelled
    one only leaves it, the late one expires; another process releases nothing meanwhile.
    Taken off the broker before it is marked accepted, a command is not started yet."""
    now = utc_now()
    due = [Command(name="wallet.deposit", not_before=now + timedelta(seconds=0.2)) for _ in "ab"]
    later = Command(name="wallet.deposit", not_before=now + timedelta(hours=1))
    dropped = Command(name="wallet.deposit", not_before=now + timedelta(seconds=0.2))
    late = Command(
        name="wallet.deposit",
        not_before=now + timedelta(seconds=0.2),
        deadline=now + timedelta(seconds=0.3),
    )
    for command in (*due, later, dropped, late):
        run(_schedule(url, command))
    run(_cancel(url, dropped.id, False))
    with pytest.raises(CommandUnconfirmed):
        state.start(due[0].id, lease_s=5)
    sent, other = Sent(), Sent()
    holder = ScheduleReleaser(client, state, sent, ttl_s=TTL_S, lease_s=5, holder="a")  # type: ignore[arg-type]
    rival = ScheduleReleaser(client, state, other, ttl_s=TTL_S, lease_s=5, holder="b")  # type: ignore[arg-type]
    assert holder.tick() == 0  # nothing due yet
    time.sleep(0.5)
    assert rival.tick() == 0 and other.ids == []
    assert holder.tick() == 2
    assert sorted(sent.ids) == sorted(c.id for c in due)
    assert [status(client, c) for c in due] == ["accepted", "accepted"]
    assert status(client, late) == "expired" and status(client, dropped) == "cancelled"
    assert client.zrange(keys.SCHEDULE, 0, -1) == [later.id]
    assert client.hget(keys.command(due[0].id), "envelope") is None


def test_a_scheduled_command_holds_its_in_flight_slot_until_after_its_time(
    url: str, client: redis.Redis
) -> None:
    """Its entry counts until ``in_flight_expiry_s`` after its due time, not after now."""

    async def reserve() -> None:
        limiter_client = redis.asyncio.Redis.from_url(url, decode_responses=True)
        try:
            await InFlightLimiter(limiter_client, 5, 60).reserve(
                "user:sched", "c1", time.time() + 3600
            )
        finally:
            await limiter_client.aclose()

    async def reserve_now() -> None:
        limiter_client = redis.asyncio.Redis.from_url(url, decode_responses=True)
        try:
            await InFlightLimiter(limiter_client, 5, 60).reserve("user:sched", "c2")
        finally:
            await limiter_client.aclose()

    client.delete(keys.in_flight("user:sched"))
    run(reserve())
    run(reserve_now())  # a command for now does not shorten the set's life
    score = cast(float | None, client.zscore(keys.in_flight("user:sched"), "c1"))
    assert score is not None and score > time.time() + 3600 + 50
    assert cast(int, client.ttl(keys.in_flight("user:sched"))) > 3600


def test_a_released_scheduled_command_joins_its_serial_line_at_its_release(
    url: str, client: redis.Redis, state: CommandStateStore
) -> None:
    """Scheduled with a serial key, it is in no line while it waits; released, it joins the
    line's tail behind what was accepted before its release."""
    line_key = "actor:user:lined"
    early = Command(name="wallet.deposit", not_before=utc_now() + timedelta(seconds=0.2))
    early = early.model_copy(update={"serial_key": line_key})
    run(_schedule(url, early))
    line = keys.serial_line(line_key)
    assert client.lrange(line, 0, -1) == []
    first = accepted(state, serial_key=line_key)
    time.sleep(0.3)
    sent = Sent()
    client.delete(keys.SCHEDULE_LEASE)  # an earlier test's releaser may hold it still
    releaser = ScheduleReleaser(client, state, sent, ttl_s=TTL_S, lease_s=5, holder="c")  # type: ignore[arg-type]
    assert releaser.tick() == 1
    assert client.lrange(line, 0, -1) == [keys.command(first.id), keys.command(early.id)]
