"""Serial lines against a real Redis and broker: join on acceptance, one turn at a time,
parking, waking through the sender, and the sweep healing a line nobody woke."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import cast

import pytest
import redis
from celery import Celery

from core import keys
from core.celery_app import make_celery
from core.command_state import CommandStateStore, NotYourTurn
from core.redelivery import MessageLedger, SentMessage
from core.sender import Sender
from core.serial import PARKED_FIELD, WOKEN_FIELD, SerialLines
from core.settings import Settings
from events import Actor, Command, CommandResult, CommandStatus, Problem
from tests.stack_fixtures import Servers

TASK = "probe.work"


@dataclass
class Line:
    """One serial key's line, with the stores a worker has and a private queue."""

    client: redis.Redis
    state: CommandStateStore
    lines: SerialLines
    queue: str
    key: str

    def accept(self, count: int) -> list[Command]:
        """``count`` commands recorded, published and confirmed, in this order."""
        commands = [Command(name=TASK, serial_key=self.key) for _ in range(count)]
        self.state.record_publishing(commands)
        assert self.state.confirm([c.id for c in commands]) == [True] * count
        return commands

    def message(self, command: Command) -> SentMessage:
        return SentMessage.now(command.id, TASK, self.queue, [command.model_dump(mode="json")])

    def turn(self, command: Command) -> bool:
        return self.lines.take_turn(command, self.message(command))

    def members(self) -> list[str]:
        return cast(list[str], self.client.lrange(keys.serial_line(self.key), 0, -1))

    def queued(self) -> list[str]:
        """The task ids on the queue, oldest first."""
        raw = cast(list[str], self.client.lrange(self.queue, 0, -1))
        return [json.loads(m)["headers"]["id"] for m in reversed(raw)]

    def field(self, command: Command, name: str) -> str | None:
        return cast(str | None, self.client.hget(keys.command(command.id), name))

    def succeed(self, command: Command) -> None:
        self.state.start(command.id, lease_s=30)
        self.state.succeed(command.id, CommandResult())


@pytest.fixture
def app(servers: Servers) -> Iterator[Celery]:
    app = make_celery(Settings(BROKER_URL=servers.redis_url), ["probe"])
    yield app
    app.close()


def line_for(client: redis.Redis, app: Celery, grace_s: float = 60.0) -> Line:
    sender = Sender(app, MessageLedger(client, ttl_s=60))
    lines = SerialLines(client, sender, ttl_s=60, grace_s=grace_s)
    state = CommandStateStore(client, ttl_s=60, lines=lines)
    key = f"actor:user:{uuid.uuid4().hex}"
    return Line(client, state, lines, f"serialprobe-{uuid.uuid4().hex[:8]}", key)


@pytest.fixture
def line(client: redis.Redis, app: Celery) -> Iterator[Line]:
    made = line_for(client, app)
    yield made
    client.delete(made.queue, keys.serial_line(made.key))
    client.zrem(keys.SERIAL_WAITING, keys.serial_line(made.key))


def test_confirmed_commands_join_in_acceptance_order_and_refused_ones_never(line: Line) -> None:
    """Confirmation joins the line in order; a command the gateway refused is not in it."""
    accepted = line.accept(3)
    refused = Command(name=TASK, serial_key=line.key)
    line.state.record_publishing([refused])
    line.state.refuse([refused.id])
    assert line.members() == [keys.command(c.id) for c in accepted]


def test_only_the_head_runs_the_rest_park_and_each_end_wakes_the_next(line: Line) -> None:
    """The head takes its turn; later commands park with their message; the head's end
    sends the next one's message, whose turn it then is."""
    first, second, third = line.accept(3)
    assert line.turn(first)
    assert not line.turn(second)
    assert not line.turn(third)
    assert json.loads(line.field(second, PARKED_FIELD) or "{}")["task_id"] == second.id
    assert line.queued() == []

    line.succeed(first)
    assert line.queued() == [second.id]
    assert line.field(second, WOKEN_FIELD) is not None
    assert line.turn(second)
    assert line.field(second, PARKED_FIELD) is None
    assert line.members() == [keys.command(c.id) for c in (second, third)]


def test_a_failed_or_dead_head_gives_its_turn_too(line: Line) -> None:
    """Every end frees the turn: a domain failure, and death after the last retry."""
    first, second, third = line.accept(3)
    line.turn(first)
    line.turn(second)
    line.turn(third)
    problem = Problem(title="no", status=409)
    line.state.start(first.id, lease_s=30)
    line.state.fail(first.id, problem, CommandStatus.FAILED)
    assert line.queued() == [second.id]
    line.turn(second)
    line.state.start(second.id, lease_s=30)
    line.state.fail(second.id, problem, CommandStatus.DEAD)
    assert line.queued() == [second.id, third.id]


def test_a_command_confirmed_after_it_asked_for_its_turn_cannot_jump_the_line(
    line: Line,
) -> None:
    """Taken off the broker before its gateway confirmed it, a command is told to go (the
    start judges the unconfirmed); confirmed meanwhile behind another, its start is refused
    as not its turn, and on its next delivery it parks."""
    (first,) = line.accept(1)
    late = Command(name=TASK, serial_key=line.key)
    line.state.record_publishing([late])
    assert line.turn(late)
    assert line.state.confirm([late.id]) == [True]
    with pytest.raises(NotYourTurn):
        line.state.start(late.id, lease_s=30)
    assert not line.turn(late)
    assert line.turn(first)


@pytest.mark.parametrize("end", [CommandStatus.CANCELLED, CommandStatus.EXPIRED])
def test_a_head_cancelled_or_expired_before_it_ran_gives_its_turn(
    line: Line, end: CommandStatus
) -> None:
    """Any move to a finished status wakes the line, not only the ends of a run."""
    first, second = line.accept(2)
    line.turn(second)
    line.state.transition(first.id, end)
    assert line.queued() == [second.id]


def test_a_retrying_head_keeps_its_turn(line: Line) -> None:
    """Between its tries the head is not finished: the next command still waits."""
    first, second = line.accept(2)
    assert line.turn(first)
    line.state.start(first.id, lease_s=30)
    line.state.transition(first.id, CommandStatus.RETRYING, last_error="Transient: later")
    assert not line.turn(second)
    assert line.turn(first)
    assert line.queued() == []


def test_a_replayed_command_joins_the_back_of_its_line(line: Line) -> None:
    """A dead command left its line; replayed, it waits behind the commands there now."""
    first, second = line.accept(2)
    line.turn(first)
    line.turn(second)
    line.state.start(first.id, lease_s=30)
    line.state.fail(first.id, Problem(title="x", status=500), CommandStatus.DEAD)
    assert line.turn(second)
    line.state.start(second.id, lease_s=30)
    line.state.reopen(first)
    assert not line.turn(first)
    assert line.members() == [keys.command(second.id), keys.command(first.id)]


@pytest.mark.parametrize("ended", ["finished unseen", "hash gone"])
def test_the_sweep_wakes_a_line_whose_head_ended_without_waking_it(line: Line, ended: str) -> None:
    """A head that finished without the end's script (or whose hash expired) holds no turn:
    the sweep pops it and sends the parked command behind it."""
    first, second = line.accept(2)
    line.turn(first)
    line.turn(second)
    if ended == "hash gone":
        line.client.delete(keys.command(first.id))
    else:
        line.client.hset(keys.command(first.id), "status", "succeeded")
    assert line.queued() == []
    line.lines.sweep(limit=10_000)
    assert line.queued() == [second.id]
    assert line.members() == [keys.command(second.id)]


def test_a_dropped_message_of_a_finished_command_wakes_its_line(line: Line) -> None:
    """The worker dropping a finished command's message takes it out of its line and wakes
    the next (whoever ended it may not have)."""
    first, second = line.accept(2)
    line.turn(first)
    line.turn(second)
    line.client.hset(keys.command(first.id), "status", "cancelled")
    line.lines.wake(first)
    assert line.queued() == [second.id]


def test_a_woken_head_is_not_woken_again_within_the_grace(line: Line, app: Celery) -> None:
    """The sweep leaves a head woken just now alone (its message is on its way), and sends
    it again once the grace has passed (the waker died before sending it)."""
    first, second = line.accept(2)
    line.turn(first)
    line.turn(second)
    line.succeed(first)
    line.lines.sweep(limit=10_000)
    assert line.queued() == [second.id]
    impatient = line_for(line.client, app, grace_s=0.0).lines
    impatient.sweep(limit=10_000)
    assert line.queued() == [second.id, second.id]


def test_other_keys_and_unserialized_commands_are_not_held(line: Line, app: Celery) -> None:
    """Another key's line is its own; a command without a key never waits (and its turn
    asks nothing of Redis: this client cannot reach any server)."""
    line.accept(1)
    other = line_for(line.client, app)
    try:
        assert other.turn(other.accept(1)[0])
    finally:
        line.client.delete(keys.serial_line(other.key))
    unreachable = redis.Redis(port=1, socket_connect_timeout=0.1)
    lines = SerialLines(unreachable, None, ttl_s=60, grace_s=1.0)
    free = Command(name=TASK, actor=Actor(user_id="u1"))
    assert lines.take_turn(free, line.message(free))
