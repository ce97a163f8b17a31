"""Redelivery: a command or an event that reaches a worker twice changes things once.

The test plays the broker's part: it publishes the very same envelope again,
and simulates a worker that died after its effects by rewinding the state.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from celery import Celery
from pymongo.database import Database

from core import keys
from core.celery_app import event_task_name, make_celery
from core.command_state import initial_fields
from core.settings import Settings
from events import Actor, Command, Event
from tests.conftest import RunningStack
from tests.e2e.helpers import signed_up

pytestmark = pytest.mark.e2e
Doc = dict[str, Any]


@pytest.fixture
def broker(stack: RunningStack) -> Iterator[Celery]:
    app = make_celery(Settings(BROKER_URL=stack.env["BROKER_URL"]))  # type: ignore[call-arg]
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
    broker.send_task(
        event_task_name(event.name), args=[event.model_dump(mode="json")], queue="events"
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


def test_event_delivered_twice_runs_each_hook_effect_once(
    client: httpx.Client, store: Database[Doc], redis_client: redis.Redis, broker: Celery
) -> None:
    """user_created delivered twice more, even with its completion records lost: effects once."""
    user_id, auth = signed_up(client)
    audited = store["audit_events"].find_one({"event": "user_created", "payload.user_id": user_id})
    assert audited is not None
    event = Event(
        id=audited["event_id"],
        name="user_created",
        payload=audited["payload"],
        occurred_at=audited["occurred_at"],
        correlation_id=audited["correlation_id"],
        causation_id=audited["causation_id"],
        command_id=audited["command_id"],
    )
    trace_key = keys.command_hooks(event.command_id)
    runs_before = redis_client.llen(trace_key)
    # Lose the completion records, as if the worker died after the effects, then deliver twice.
    store["hookline_hook_runs"].delete_many({"_id": {"$regex": f"^{event.id}:"}})
    deliver_event(broker, event)
    deliver_event(broker, event)
    wait_until(
        lambda: (
            store["hookline_hook_runs"].count_documents({"_id": {"$regex": f"^{event.id}:"}}) == 3
        )
    )
    wait_until(lambda: redis_client.llen(trace_key) >= runs_before + 3)
    time.sleep(1)  # let a concurrent second delivery finish too
    assert store["wallet_ledger"].count_documents({"user_id": user_id}) == 1
    assert client.get("/wallet/balance", headers=auth).json()["balance"] == 100
    assert (
        store["notifications_messages"].count_documents({"user_id": user_id}) == 2
    )  # welcome + credited
    assert store["audit_events"].count_documents({"event_id": event.id}) == 1
    assert (
        store["audit_events"].count_documents(
            {"payload.user_id": user_id, "event": "wallet_credited"}
        )
        == 1
    )
