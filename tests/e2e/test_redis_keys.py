"""After a workload through every module and path, every key of the stack's Redis has a TTL,
or docs/redis-keys.md says it lives without one, and why that is bounded.

The allow-list is the page itself (read by ``tests/redis_keys_doc.py``): a key without a
TTL must belong to a row whose lifetime starts with "no TTL", so the page and Redis
cannot drift apart. A key belongs to the most specific row that matches it (``{queue}``
stands for the stack's queues, any other placeholder for one or more characters).

Scope: the session stack shares its Redis database with other tests, so every key there
is looked at. A key under ``hookline:`` or ``_kombu.`` must match a row; a key matching no
row and neither Hookline's nor kombu's is another test's private leftover (none appear
when this file runs alone): listed in the report, not judged.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis
from pymongo.database import Database

from core import keys
from core.celery_app import ADMIN_QUEUE, EVENTS_QUEUE
from hookline.processes import spawn, terminate
from hookline.stack import gateway_command
from modules import discover
from tests.conftest import RunningStack, await_healthy
from tests.e2e.helpers import PASSWORD, bearer, login, new_user, poll, register, signed_up
from tests.redis_keys_doc import BROKER_SECTION, HOOKLINE_SECTION, KeyRow, rows
from tests.stack_fixtures import free_port

pytestmark = pytest.mark.e2e

Doc = dict[str, Any]
WAIT = {"Prefer": "wait=10"}
OURS = (f"{keys.PREFIX}:", "_kombu.")
# Rows this workload must leave keys of when it ends (others are gone by then: a pending
# set settles, a message note goes when its task starts, a revoked key is withdrawn).
WORKLOAD_MAKES = {
    "hookline:cmd:{command_id}",
    "hookline:cmd:{command_id}:hooks",
    "hookline:cmd:{command_id}:hooks:once",
    "hookline:cmd:{command_id}:secret",
    "hookline:rm:{module}:{view}:{key}",
    "hookline:rm:{module}:{view}:{key}:ready",
    "hookline:rm:{module}:{view}:{key}:version",
    "hookline:worker:{worker}",
    "hookline:auth:session:{family}",
    "hookline:auth:user:{user_id}:sessions",
    "hookline:attempts:{subject}",
    "hookline:apikey:{key_id}",
    "hookline:auth:user:{user_id}:roles",
    "hookline:ban:{identity}",
    "hookline:inflight:{identity}",
    "hookline:idem:{digest}",
    "hookline:schedule",
    "hookline:schedule:lease",
    "hookline:owner:{principal}:cmds",
    "hookline:msgs:{queue}:started",
    "hookline:rl:{limits_key}",
    "_kombu.binding.{exchange}",
    "_kombu.binding_permanent.{exchange}",
}


@dataclass(frozen=True)
class Found:
    """One key the scan found, its TTL (-1: none) and the row it belongs to, if any."""

    key: str
    ttl_s: int
    row: KeyRow | None

    @property
    def ours(self) -> bool:
        return self.key.startswith(OURS)

    @property
    def fault(self) -> str | None:
        """What is wrong with this key, if anything."""
        if self.row is None:
            return "matches no row of docs/redis-keys.md" if self.ours else None
        if self.row.lifetime.startswith("no key"):
            return f"is a key, but its row `{self.row.pattern}` says it is none"
        if self.ttl_s < 0 and not self.row.without_ttl:
            return f"has no TTL, but its row `{self.row.pattern}` does not say no TTL"
        return None


@pytest.fixture
def limited(stack: RunningStack, tmp_path: Path) -> Iterator[str]:
    """A second gateway on the stack's stores and broker, with rate limits on: ``/userauth/me``
    once a minute per user, and a ban at the second refusal within a minute; its URL."""
    env = {
        **stack.env,
        "HOOKLINE_RATE_LIMITS_ENABLED": "true",
        "HOOKLINE_ROUTE_RATE_LIMITS": json.dumps({"user_management.me": "1/minute"}),
        "HOOKLINE_BAN_AFTER_VIOLATIONS": "1/minute",
        "HOOKLINE_BAN_DURATION_S": "60",
    }
    port, log_path = free_port(), tmp_path / "limited-gateway.log"
    with log_path.open("wb") as log:
        gateway = spawn(gateway_command(port), env, output=log)
        try:
            base_url = f"http://127.0.0.1:{port}"
            await_healthy(base_url, [gateway], [log_path])
            yield base_url
        finally:
            terminate(gateway)


def test_after_a_workload_every_key_has_a_ttl_or_a_documented_bound(
    client: httpx.Client,
    admin: dict[str, str],
    redis_client: redis.Redis,
    store: Database[Doc],
    limited: str,
) -> None:
    """Register, login, refresh, logout, a login nobody reads, a failed login, deposit (with
    an Idempotency-Key, then its replay), withdraw, transfer, the read models with and
    without their views, API keys minted, used and revoked, a stream, a dead letter and its
    replay, rate limits and a ban; then no key of the stack's Redis lacks a TTL but those the
    page lists as bounded without one. The keys found, counted per row, are printed."""
    accounts(client, redis_client)
    money_and_reads(client, redis_client)
    api_keys(client, admin, redis_client)
    dead_letter_and_replay(client, admin, store)
    limits_and_a_ban(limited, redis_client)
    found = scan(redis_client)
    print(report(found))
    faults = [f"{f.key!r} {f.fault}" for f in found if f.fault]
    assert not faults, "\n".join(faults) + "\n" + report(found)
    missed = WORKLOAD_MAKES - {f.row.pattern for f in found if f.row}
    assert not missed, f"the workload left no key of {sorted(missed)}\n" + report(found)


# -- the workload -------------------------------------------------------------------------


def accounts(client: httpx.Client, redis_client: redis.Redis) -> None:
    """Register (with an Idempotency-Key), login, refresh, logout; a login nobody reads (its
    tokens wait, sealed), then a failed login (its attempt is counted)."""
    user = new_user()
    registered = client.post(
        "/public/register", json=user, headers={**WAIT, "Idempotency-Key": uuid.uuid4().hex}
    )
    assert registered.status_code == 201, registered.text
    tokens = login(client, user)
    refreshed = client.post(
        "/public/refresh", json={"refresh_token": tokens["refresh_token"]}, headers=WAIT
    )
    assert refreshed.status_code == 200, refreshed.text
    out = client.post("/userauth/logout", headers={**bearer(refreshed.json()), **WAIT})
    assert out.status_code == 200, out.text
    unread = client.post("/public/login", json={"email": user["email"], "password": PASSWORD})
    assert unread.status_code == 202, unread.text
    finished(redis_client, unread.json()["command_id"])  # read from Redis: nothing handed over
    wrong = {"email": user["email"], "password": PASSWORD + "!"}
    assert client.post("/public/login", json=wrong, headers=WAIT).status_code == 401


def finished(redis_client: redis.Redis, command_id: str, timeout_s: float = 15) -> None:
    """Until the command's status in Redis is ``succeeded``."""
    deadline = time.monotonic() + timeout_s
    while redis_client.hget(keys.command(command_id), "status") != "succeeded":
        assert time.monotonic() < deadline, f"command {command_id} did not succeed"
        time.sleep(0.1)


def money_and_reads(client: httpx.Client, redis_client: redis.Redis) -> None:
    """Deposit (and its replay), withdraw, transfer, a deposit followed on its stream; the
    balance read without its view (a worker builds it) and with it; inbox and history."""
    user_id, auth = signed_up(client)
    other = new_user()
    assert register(client, other).status_code == 201
    once = {**auth, **WAIT, "Idempotency-Key": uuid.uuid4().hex}
    for _ in range(2):
        assert client.post("/wallet/deposit", json={"amount": 5}, headers=once).status_code == 200
    assert client.post("/wallet/withdraw", json={"amount": 2}, headers={**auth, **WAIT}).is_success
    transfer = {"to_username": other["username"], "amount": 1}
    assert client.post("/transactions/transfer", json=transfer, headers={**auth, **WAIT}).is_success
    streamed = client.post("/wallet/deposit", json={"amount": 3}, headers=auth)
    with client.stream("GET", streamed.headers["Location"] + "/stream", headers=auth) as events:
        assert events.status_code == 200
        events.read()
    redis_client.delete(keys.read_model("wallet", "balance", user_id))
    for path in ("/wallet/balance", "/notifications", "/transactions") * 2:
        assert client.get(path, headers={**auth, **WAIT}).status_code == 200, path
    lifecycle(client, auth)


def lifecycle(client: httpx.Client, auth: dict[str, str]) -> None:
    """A deposit scheduled an hour ahead (it stays in the schedule), one scheduled and
    cancelled, one due in a second and run (the releaser holds its lease); the listing."""

    def schedule(delay: str) -> str:
        response = client.post(
            "/wallet/deposit", json={"amount": 1}, headers={**auth, "Command-Not-Before": delay}
        )
        assert response.status_code == 202, response.text
        location: str = response.headers["Location"]
        return location

    schedule("3600")
    assert client.post(schedule("3600") + "/cancel", headers=auth).status_code == 200
    assert poll(client, schedule("1"), headers=auth)["status"] == "succeeded"
    assert len(client.get("/commands", headers=auth).json()["items"]) >= 3


def api_keys(client: httpx.Client, admin: dict[str, str], redis_client: redis.Redis) -> None:
    """Two keys minted and used; the key list read; one revoked (its record goes), one kept."""
    minted = [mint(client, admin, name) for name in ("kept", "revoked")]
    for key in minted:
        inbox = client.get("/notifications", headers={"X-API-Key": key["api_key"], **WAIT})
        assert inbox.status_code == 200, inbox.text
    assert client.get("/admin/api-keys", headers={**admin, **WAIT}).status_code == 200
    revoked = minted[1]
    gone = client.delete(f"/admin/api-keys/{revoked['key_id']}", headers={**admin, **WAIT})
    assert gone.status_code == 200, gone.text
    assert (
        client.get("/notifications", headers={"X-API-Key": revoked["api_key"]}).status_code == 401
    )
    assert not redis_client.exists(keys.api_key(revoked["key_id"]))


def mint(client: httpx.Client, admin: dict[str, str], name: str) -> Doc:
    body = {"name": name, "scopes": ["notifications:read"]}
    response = client.post("/admin/api-keys", json=body, headers={**admin, **WAIT})
    assert response.status_code == 201, response.text
    created: Doc = response.json()
    return created


def dead_letter_and_replay(
    client: httpx.Client, admin: dict[str, str], store: Database[Doc]
) -> None:
    """A deposit on a corrupt wallet dies after its retries; repaired, its replay succeeds."""
    user_id, auth = signed_up(client)
    wallets = store["wallet_wallets"]
    wallets.update_one({"_id": user_id}, {"$set": {"balance": "corrupt"}})
    doomed = client.post("/wallet/deposit", json={"amount": 1}, headers=auth)
    assert poll(client, doomed.headers["Location"], timeout_s=30, headers=auth)["status"] == "dead"
    assert client.get("/admin/dead-letters", headers={**admin, **WAIT}).status_code == 200
    wallets.update_one({"_id": user_id}, {"$set": {"balance": 100}})
    letter = f"command:{doomed.json()['command_id']}"
    replay = client.post(f"/admin/dead-letters/{letter}/replay", headers={**admin, **WAIT})
    assert replay.is_success, replay.text
    assert poll(client, doomed.headers["Location"], headers=auth)["status"] == "succeeded"


def limits_and_a_ban(base_url: str, redis_client: redis.Redis) -> None:
    """Every request counts against the limits; the third look at /userauth/me bans its user."""
    with httpx.Client(base_url=base_url, timeout=40) as limited:
        user_id, auth = signed_up(limited)
        answers = [limited.get("/userauth/me", headers=auth).status_code for _ in range(3)]
    assert answers == [200, 429, 429]
    assert cast(int, redis_client.ttl(keys.ban(f"user:{user_id}"))) > 0


# -- the scan -----------------------------------------------------------------------------


def scan(redis_client: redis.Redis) -> list[Found]:
    """Every key of the database, with its TTL and its row (keys gone meanwhile left out)."""
    documented = rows(HOOKLINE_SECTION) + rows(BROKER_SECTION)
    values = {"queue": {*discover(), EVENTS_QUEUE, ADMIN_QUEUE}}
    matchers = [(row, row.matcher(values)) for row in documented]
    found: list[Found] = []
    for key in redis_client.scan_iter(count=1000):
        ttl_s = cast(int, redis_client.ttl(key))
        if ttl_s == -2:
            continue
        matching = [row for row, matcher in matchers if matcher.fullmatch(key)]
        row = max(matching, key=lambda r: r.literal_chars, default=None)
        found.append(Found(key, ttl_s, row))
    return found


def report(found: list[Found]) -> str:
    """The keys found per row, and how many of them have no TTL."""
    counts = Counter(_row_of(f) for f in found)
    untimed = Counter(_row_of(f) for f in found if f.ttl_s < 0)
    lines = [f"{n:6d} {untimed[row]:6d}  {row}" for row, n in sorted(counts.items())]
    return "\n".join([f"{len(found)} keys: count, without a TTL, row", *lines])


def _row_of(found: Found) -> str:
    return found.row.pattern if found.row else f"(no row) {found.key}"
