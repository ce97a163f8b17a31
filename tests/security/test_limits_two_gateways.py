"""Rate limits, bans and the in-flight cap hold across two gateway processes sharing Redis.

An attacker who spreads requests over every gateway behind a load balancer gets
one allowance, not one per process: each test alternates between ``limited`` and
``limited_twin`` (same settings, separate processes). Idempotency keys across
gateways are proven in ``test_idempotency_gateways.py``.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import cast

import httpx
import pytest
import redis
from pymongo.database import Database

from core import keys
from tests.e2e.helpers import signed_up
from tests.security.conftest import (
    LIMITS,
    Doc,
    LimitedGateway,
    assert_refused,
    ledger_count,
    nowhere,
    unique_ip,
)

pytestmark = pytest.mark.e2e


@contextlib.contextmanager
def alternating(
    gateways: tuple[LimitedGateway, LimitedGateway],
) -> Iterator[Iterator[httpx.Client]]:
    """Clients of both gateways for one new client address, taking turns."""
    client_ip = unique_ip()
    with gateways[0].via_proxy(client_ip) as first, gateways[1].via_proxy(client_ip) as second:
        yield itertools.cycle([first, second])


@pytest.fixture
def pair(
    limited: LimitedGateway, limited_twin: LimitedGateway
) -> tuple[LimitedGateway, LimitedGateway]:
    return limited, limited_twin


def test_the_per_ip_limit_and_the_ban_are_shared(
    pair: tuple[LimitedGateway, LimitedGateway],
) -> None:
    with alternating(pair) as turns:
        answers = [next(turns).get(nowhere()).status_code for _ in range(LIMITS["per_ip"])]
        refused = [next(turns).get(nowhere()) for _ in range(LIMITS["violations"])]
        # Banned at both gateways, whichever counted the last violation.
        banned = [next(turns).get(nowhere()) for _ in range(2)]
    assert answers == [404] * LIMITS["per_ip"]
    for response in refused:
        assert_refused(response, 429)
        assert response.json()["type"].endswith("/rate-limited")
    for response in banned:
        assert_refused(response, 429)
        assert response.json()["type"].endswith("/banned")
        assert int(response.headers["Retry-After"]) > LIMITS["ban_s"] - 30


def test_the_per_user_limit_is_shared(
    pair: tuple[LimitedGateway, LimitedGateway], client: httpx.Client
) -> None:
    _, auth = signed_up(client)
    with alternating(pair) as turns:
        answers = [
            next(turns).get("/wallet/balance", headers=auth) for _ in range(LIMITS["per_user"] + 1)
        ]
    assert [r.status_code for r in answers[:-1]] == [200] * LIMITS["per_user"]
    assert_refused(answers[-1], 429)


def test_the_in_flight_cap_is_shared(
    pair: tuple[LimitedGateway, LimitedGateway],
    client: httpx.Client,
    redis_client: redis.Redis,
    store: Database[Doc],
) -> None:
    user_id, auth = signed_up(client)
    with alternating(pair) as turns:
        answers = [
            next(turns).post("/wallet/deposit", json={"amount": 1}, headers=auth)
            for _ in range(LIMITS["in_flight"] + 2)
        ]
    accepted, refused = answers[: LIMITS["in_flight"]], answers[LIMITS["in_flight"] :]
    assert [r.status_code for r in accepted] == [202] * LIMITS["in_flight"]
    for response in refused:
        assert_refused(response, 429)
        assert response.json()["type"].endswith("/too-many-in-flight")
    # Exactly the accepted commands hold slots; neither broker is consumed, so none ran.
    slots = cast(list[str], redis_client.zrange(keys.in_flight(f"user:{user_id}"), 0, -1))
    assert set(slots) == {r.json()["command_id"] for r in accepted}
    assert ledger_count(store, user_id) == 1
