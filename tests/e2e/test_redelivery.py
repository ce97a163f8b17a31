"""Redelivery: a command or an event that reaches a worker twice changes things once.

The tests play the broker's part: they publish the very same message again (the
task, queue and task id Hookline uses), and simulate a worker that died after
its effects by rewinding the command's state or losing the completion records.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
from celery import Celery
from pymongo.database import Database

from core import keys
from core.celery_app import EVENTS_QUEUE, event_task_name, make_celery
from core.command_state import initial_fields
from core.settings import Settings
from events import Actor, Command, Event
from tests.conftest import RunningStack
from tests.e2e.helpers import bearer, claim, login, new_user, register, signed_up

pytestmark = pytest.mark.e2e
Doc = dict[str, Any]


@pytest.fixture
def broker(stack: RunningStack) -> Iterator[Celery]:
    app = make_celery(Settings(BROKER_URL=stack.env["BROKER_URL"]))
    yield app
    app.close()


def wait_until(check: Callable[[], bool], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out waiting for the workers"
        time.sleep(0.1)


def deliver_command(broker: Celery, command: Command) -> None:
    broker.send_task(
        command.name,
        args=[command.model_dump(mode="json")],
        queue=command.module,
        task_id=command.id,
    )


def deliver_event(broker: Celery, event: Event) -> None:
    """Publish ``event``'s message again as ``workers.bus`` does: task, queue and task id."""
    broker.send_task(
        event_task_name(event.name),
        args=[event.model_dump(mode="json")],
        queue=EVENTS_QUEUE,
        task_id=event.id,
    )


def test_command_delivered_twice_applies_once(
    client: httpx.Client, store: Database[Doc], redis_client: redis.Redis, broker: Celery
) -> None:
    """Two deliveries, then a third after rewinding to running: one ledger entry, one message."""
    user_id, auth = signed_up(client)
    command = Command(
        name="wallet.deposit", payload={"amount": 7}, actor=Actor(user_id=user_id, roles=("user",))
    )
    state_key = keys.command(command.id)
    redis_client.hset(state_key, mapping=initial_fields(command))
    deliver_command(broker, command)
    deliver_command(broker, command)
    wait_until(lambda: redis_client.hget(state_key, "status") == "succeeded")
    # A worker that applied the deposit but died before recording success: the broker redelivers.
    redis_client.hset(state_key, mapping={"status": "running", "lease_until": "0"})
    deliver_command(broker, command)
    wait_until(
        lambda: (
            redis_client.hget(state_key, "attempts") == "2"
            and redis_client.hget(state_key, "status") == "succeeded"
        )
    )
    wait_until(lambda: redis_client.scard(keys.command_pending(command.id)) == 0)
    assert store["wallet_ledger"].count_documents({"_id": command.id}) == 1
    assert client.get("/wallet/balance", headers=auth).json()["balance"] == 107
    credited = store["notifications_messages"].count_documents(
        {"user_id": user_id, "text": {"$regex": "^7 credits"}}
    )
    assert credited == 1


@dataclass(frozen=True)
class Registered:
    """A signed-up user, with the claim that reads their register command's document."""

    user_id: str
    auth: dict[str, str]
    claim: dict[str, str]


def registered(client: httpx.Client) -> Registered:
    user = new_user()
    response = register(client, user)
    assert response.status_code == 201, response.text
    return Registered(response.json()["user_id"], bearer(login(client, user)), claim(response))


def created_event(store: Database[Doc], user_id: str) -> Event:
    """The user's ``user_created`` envelope, as its audit record keeps it."""
    audited = store["audit_events"].find_one({"event": "user_created", "payload.user_id": user_id})
    assert audited is not None
    return Event(
        id=audited["event_id"],
        name="user_created",
        payload=audited["payload"],
        occurred_at=audited["occurred_at"],
        correlation_id=audited["correlation_id"],
        causation_id=audited["causation_id"],
        command_id=audited["command_id"],
    )


def trace(client: httpx.Client, event: Event, who: Registered) -> list[Doc]:
    """The hook runs of the command that emitted ``event``, from ``GET /commands/{id}``."""
    response = client.get(f"/commands/{event.command_id}", headers=who.claim)
    assert response.status_code == 200, response.text
    runs: list[Doc] = response.json()["hooks"]
    return runs


def succeeded(runs: list[Doc], event: Event) -> Counter[str]:
    """How many times each hook of ``event`` succeeded, by hook."""
    return Counter(
        f"{r['module']}.{r['handler']}"
        for r in runs
        if r["event_id"] == event.id and r["status"] == "succeeded"
    )


def await_deliveries(stack: RunningStack, event: Event, count: int) -> None:
    """Wait until the worker has finished ``count`` deliveries of ``event``'s message.

    A delivery whose hooks are all skipped leaves no trace; the worker's log
    line for the task (its id is the event id) says it ran.
    """
    assert stack.log_dir is not None
    line = f"Task {event_task_name(event.name)}[{event.id}] succeeded"
    log = stack.log_dir / "worker.log"
    wait_until(lambda: log.read_text(errors="replace").count(line) >= count)


def check_effects_once(
    client: httpx.Client, store: Database[Doc], user: Registered, event: Event
) -> None:
    """One welcome entry and 100 credits, two messages, one audit record per event."""
    assert store["wallet_ledger"].count_documents({"user_id": user.user_id}) == 1
    assert client.get("/wallet/balance", headers=user.auth).json()["balance"] == 100
    assert store["notifications_messages"].count_documents({"user_id": user.user_id}) == 2
    inbox = client.get("/notifications", headers=user.auth).json()["items"]
    assert sorted(m["event"] for m in inbox) == ["user_created", "wallet_credited"]
    assert store["audit_events"].count_documents({"event_id": event.id}) == 1
    credited = {"payload.user_id": user.user_id, "event": "wallet_credited"}
    assert store["audit_events"].count_documents(credited) == 1


USER_CREATED_HOOKS = (
    "wallet.open_wallet",
    "notifications.notify",
    "audit.record",
    "webhooks.fan_out",
)


def test_event_delivered_again_skips_every_hook_that_completed(
    client: httpx.Client, store: Database[Doc], stack: RunningStack, broker: Celery
) -> None:
    """user_created's very message, published twice more on the broker, is run by the
    worker both times: each hook's effect still exists once (MongoDB and read models),
    and the trace gains no second successful run of any hook."""
    user = registered(client)
    event = created_event(store, user.user_id)
    await_deliveries(stack, event, 1)
    before = trace(client, event, user)
    assert succeeded(before, event) == Counter(USER_CREATED_HOOKS)
    deliver_event(broker, event)
    deliver_event(broker, event)
    await_deliveries(stack, event, 3)
    after = trace(client, event, user)
    assert succeeded(after, event) == Counter(USER_CREATED_HOOKS)
    assert [r for r in after[len(before) :] if r["status"] == "succeeded"] == []
    check_effects_once(client, store, user, event)


def test_event_redelivered_after_its_completion_records_were_lost_applies_each_effect_once(
    client: httpx.Client, store: Database[Doc], stack: RunningStack, broker: Celery
) -> None:
    """Hooks are idempotent on their own: with user_created's completion records deleted
    (a worker that died between the effects and recording them), two more deliveries run
    every hook again (their completion records come back), each effect still exists once,
    and the trace still shows each hook's completion once."""
    user = registered(client)
    event = created_event(store, user.user_id)
    await_deliveries(stack, event, 1)
    runs = store["hookline_hook_runs"]
    mine = {"_id": {"$regex": f"^{event.id}/"}}
    assert runs.delete_many(mine).deleted_count == len(USER_CREATED_HOOKS)
    deliver_event(broker, event)
    deliver_event(broker, event)
    await_deliveries(stack, event, 3)
    assert runs.count_documents(mine) == len(USER_CREATED_HOOKS)
    assert succeeded(trace(client, event, user), event) == Counter(USER_CREATED_HOOKS)
    check_effects_once(client, store, user, event)
