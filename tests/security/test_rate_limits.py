"""Rate limits, bans, trusted proxies and the in-flight cap (OWASP API4), on a tight gateway.

Each test calls the limited gateway through the trusted proxy (127.0.0.2) with a
client address of its own, so counts never leak between tests; the spoofing test
alone calls directly from 127.0.0.1.
"""

from __future__ import annotations

import httpx
import pytest
from pymongo.database import Database

from tests.e2e.helpers import new_user, register, signed_up
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


def assert_limited(response: httpx.Response, problem: str, at_most_s: int) -> None:
    assert_refused(response, 429)
    assert response.json()["type"].endswith(f"/{problem}")
    assert 1 <= int(response.headers["Retry-After"]) <= at_most_s


def test_a_login_burst_is_429_then_banned(
    limited: LimitedGateway, client: httpx.Client, store: Database[Doc]
) -> None:
    """Logins over the route limit are 429 with Retry-After; continuing gets the address banned."""
    user = new_user()
    register(client, user)
    body = {"email": user["email"], "password": "wrong password"}
    with limited.via_proxy(unique_ip()) as attacker:
        accepted = [attacker.post("/public/login", json=body) for _ in range(LIMITS["login"])]
        assert [r.status_code for r in accepted] == [202] * LIMITS["login"]
        for _ in range(LIMITS["violations"]):
            assert_limited(attacker.post("/public/login", json=body), "rate-limited", 60)
        assert_limited(attacker.post("/public/login", json=body), "banned", LIMITS["ban_s"])
        # The ban holds on every route, not just the one abused.
        assert_limited(attacker.get(nowhere()), "banned", LIMITS["ban_s"])
    with limited.via_proxy(unique_ip()) as bystander:
        assert bystander.post("/public/login", json=body).status_code == 202
    assert store["user_management_users"].count_documents({"email": user["email"]}) == 1


def test_a_spoofed_x_forwarded_for_does_not_dodge_the_limit(limited: LimitedGateway) -> None:
    """From an untrusted peer, a new X-Forwarded-For each time still counts as one address."""
    with limited.direct() as attacker:
        for n in range(LIMITS["per_ip"]):
            spoofed = {"X-Forwarded-For": f"203.0.113.{n}"}
            assert attacker.get(nowhere(), headers=spoofed).status_code == 404
        response = attacker.get(nowhere(), headers={"X-Forwarded-For": "203.0.113.250"})
    assert_limited(response, "rate-limited", 60)


def test_a_trusted_proxy_is_believed_but_not_what_the_client_wrote(
    limited: LimitedGateway,
) -> None:
    """Via the trusted proxy the client is the address it appended; a forged prefix is ignored."""
    client_ip = unique_ip()
    with limited.via_proxy(client_ip) as proxy:
        for n in range(LIMITS["per_ip"]):
            forged = {"X-Forwarded-For": f"198.51.100.{n}, {client_ip}"}
            assert proxy.get(nowhere(), headers=forged).status_code == 404
        assert_limited(proxy.get(nowhere()), "rate-limited", 60)
    with limited.via_proxy(unique_ip()) as other_client:
        assert other_client.get(nowhere()).status_code == 404


def test_the_per_user_limit_holds_across_addresses(
    limited: LimitedGateway, client: httpx.Client
) -> None:
    """One user's requests from many addresses share the per-user limit."""
    _, auth = signed_up(client)
    for _ in range(LIMITS["per_user"]):
        with limited.via_proxy(unique_ip()) as hop:
            assert hop.get("/wallet/balance", headers=auth).status_code == 200
    with limited.via_proxy(unique_ip()) as hop:
        assert_limited(hop.get("/wallet/balance", headers=auth), "rate-limited", 60)


def test_the_per_key_limit_holds_across_addresses(
    limited: LimitedGateway, client: httpx.Client, admin: dict[str, str]
) -> None:
    """An API key's requests from many addresses share the per-key limit."""
    created = client.post(
        "/admin/api-keys",
        json={"name": "burst", "scopes": ["wallet:read"]},
        headers={**admin, "Prefer": "wait=10"},
    )
    key = {"X-API-Key": created.json()["api_key"]}
    for _ in range(LIMITS["per_api_key"]):
        with limited.via_proxy(unique_ip()) as hop:
            assert hop.get(nowhere(), headers=key).status_code == 404
    with limited.via_proxy(unique_ip()) as hop:
        assert_limited(hop.get(nowhere(), headers=key), "rate-limited", 60)


def test_commands_in_flight_are_capped_per_caller(
    limited: LimitedGateway, client: httpx.Client, store: Database[Doc]
) -> None:
    """With the cap of unfinished commands reached, the next command is 429 and is not accepted."""
    user_id, auth = signed_up(client)
    with limited.via_proxy(unique_ip()) as caller:
        for _ in range(LIMITS["in_flight"]):
            response = caller.post("/wallet/deposit", json={"amount": 1}, headers=auth)
            assert response.status_code == 202
        assert_limited(
            caller.post("/wallet/deposit", json={"amount": 1}, headers=auth),
            "too-many-in-flight",
            60,
        )
    # Another caller is not held up by this one's backlog.
    _, other = signed_up(client)
    with limited.via_proxy(unique_ip()) as caller:
        response = caller.post("/wallet/deposit", json={"amount": 1}, headers=other)
        assert response.status_code == 202
    assert ledger_count(store, user_id) == 1
