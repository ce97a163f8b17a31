"""The per-endpoint gate of webhook tries, on a real Redis: slots and a rate, per endpoint."""

from __future__ import annotations

import time
import uuid

import redis

from core import keys
from core.webhook_gate import EndpointGate
from tests.stack_fixtures import Servers


def gate(client: redis.Redis, servers: Servers, rate: str = "100/second") -> EndpointGate:
    return EndpointGate(client, servers.redis_url, capacity=2, rate_limit=rate, lapse_s=30)


def test_an_endpoint_has_at_most_its_slots_in_flight_and_others_are_untouched(
    client: redis.Redis, servers: Servers
) -> None:
    endpoint, other = f"ep_{uuid.uuid4().hex}", f"ep_{uuid.uuid4().hex}"
    limits = gate(client, servers)
    assert limits.enter(endpoint, "msg_a") and limits.enter(endpoint, "msg_b")
    assert not limits.enter(endpoint, "msg_c")
    assert limits.enter(other, "msg_c")  # another endpoint's slots are its own
    limits.leave(endpoint, "msg_a")
    assert limits.enter(endpoint, "msg_c")
    lapses_in_ms = int(client.pttl(keys.webhook_slots(endpoint)))  # type: ignore[arg-type]
    assert 0 < lapses_in_ms <= 30_000


def test_an_endpoint_gets_at_most_its_rate_and_a_refused_try_costs_nothing(
    client: redis.Redis, servers: Servers
) -> None:
    endpoint = f"ep_{uuid.uuid4().hex}"
    limits = gate(client, servers, rate="3/minute")
    for n in range(3):
        assert limits.enter(endpoint, f"msg_{n}")
        limits.leave(endpoint, f"msg_{n}")
    assert not limits.enter(endpoint, "msg_3")
    assert client.zcard(keys.webhook_slots(endpoint)) == 0  # no slot kept by the refusal


def test_a_slot_lapses_when_its_worker_never_gives_it_back(
    client: redis.Redis, servers: Servers
) -> None:
    endpoint = f"ep_{uuid.uuid4().hex}"
    short = EndpointGate(
        client, servers.redis_url, capacity=1, rate_limit="100/second", lapse_s=0.2
    )
    assert short.enter(endpoint, "msg_dead")
    assert not short.enter(endpoint, "msg_next")
    time.sleep(0.3)
    assert short.enter(endpoint, "msg_next")
