"""Attacks on accounts themselves: guessing one account's password, and posing as a user.

Password guessing (review finding 3) is played on the ``guarded`` gateway, which
has a deployment's limits: 10 logins a minute per address, so the guesser uses
three addresses, as in the finding. The look-alike names (finding 5) need no
limits and run on the session stack.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, cast

import httpx
import pytest
import redis
from pymongo.database import Database

from core import keys
from core.sealing import SECRET_NAME, KeyRing
from modules.user_management.identifiers import email_key
from tests.conftest import LOGIN_LOCK_MAX_S, RunningStack
from tests.e2e.helpers import PASSWORD, bearer, login, new_user, register
from tests.security.conftest import Doc, LimitedGateway, unique_ip

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=10"}
USERS = "user_management_users"
# The login route's own limit per address, and the failures an account takes before waiting.
LOGINS_PER_ADDRESS = 10
FAILURES_ALLOWED = 5
GUESSES = 3 * LOGINS_PER_ADDRESS


def log_in(gateway: LimitedGateway, email: str, password: str, times: int = 1) -> list[Any]:
    """``times`` logins, in order, from one new client address."""
    body = {"email": email, "password": password}
    with gateway.via_proxy(unique_ip()) as hop:
        return [hop.post("/public/login", json=body, headers=WAIT) for _ in range(times)]


def spray(gateway: LimitedGateway, email: str, password: str) -> list[httpx.Response]:
    """The finding's attack: 30 logins for one account, from three addresses."""
    return [
        response
        for _ in range(GUESSES // LOGINS_PER_ADDRESS)
        for response in log_in(gateway, email, password, LOGINS_PER_ADDRESS)
    ]


def shape(response: httpx.Response) -> tuple[int, dict[str, Any], list[str]]:
    """What a refusal tells: status, body (but its command's own path) and header names."""
    body = {k: v for k, v in response.json().items() if k != "instance"}
    names = sorted(n for n in response.headers if n not in ("date", "location"))
    return response.status_code, body, names


def attempts_key(stack: RunningStack, email: str) -> str:
    """Where the account's failures are counted: a keyed digest of its email, no email."""
    ring = KeyRing.parse((stack.data_dir / "secrets" / SECRET_NAME).read_text())
    return keys.attempts(ring.digest("login-attempts", email_key(email)))


def assert_closed(response: httpx.Response) -> None:
    """429 as a problem document, Retry-After within the lock's cap, and no tokens."""
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/too-many-attempts")
    assert 1 <= int(response.headers["Retry-After"]) <= LOGIN_LOCK_MAX_S
    assert "access_token" not in response.text


def test_guessing_one_accounts_password_from_many_addresses_closes_it(
    stack: RunningStack,
    guarded: LimitedGateway,
    client: httpx.Client,
    redis_client: redis.Redis,
) -> None:
    """30 wrong passwords from three addresses, then the right one: 429 with Retry-After, no
    session; an unknown email is refused the same way; once the wait is over, the right
    password logs in."""
    user = new_user()
    user_id = register(client, user).json()["user_id"]
    guesses = spray(guarded, user["email"], "not the password")
    statuses = [r.status_code for r in guesses]
    assert statuses[:FAILURES_ALLOWED] == [401] * FAILURES_ALLOWED
    assert set(statuses) == {401, 429}
    [right] = log_in(guarded, user["email"], user["password"])
    assert_closed(right)
    assert not redis_client.exists(keys.user_sessions(user_id))
    assert cast(int, redis_client.zcard(attempts_key(stack, user["email"]))) > FAILURES_ALLOWED
    assert not [k for k in redis_client.scan_iter("hookline:attempts:*") if user["email"] in k]

    unknown = f"nobody-{uuid.uuid4().hex[:10]}@example.com"
    unknown_statuses = [r.status_code for r in spray(guarded, unknown, "not the password")]
    assert unknown_statuses[:FAILURES_ALLOWED] == [401] * FAILURES_ALLOWED
    [refused] = log_in(guarded, unknown, user["password"])
    assert_closed(refused)
    assert shape(refused) == shape(right)
    assert shape(guesses[0]) == shape(log_in(guarded, f"x{unknown}", "not the password")[0])

    time.sleep(int(right.headers["Retry-After"]) + 0.2)
    [opened] = log_in(guarded, user["email"], user["password"])
    assert opened.status_code == 200, opened.text
    assert redis_client.exists(keys.user_sessions(user_id))
    # The success cleared the count: one more wrong password is a plain 401 again.
    assert not redis_client.exists(attempts_key(stack, user["email"]))
    assert log_in(guarded, user["email"], "not the password")[0].status_code == 401


FULLWIDTH_OFFSET = 0xFEE0  # "a" (U+0061) + this is fullwidth "a" (U+FF41), for any ASCII


def assert_taken(response: httpx.Response, field: str) -> None:
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["field"] == field


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + FULLWIDTH_OFFSET) for c in text)


def test_look_alike_usernames_and_emails_cannot_register_nor_receive_transfers(
    client: httpx.Client, store: Database[Doc]
) -> None:
    """Other cases and compatibility spellings of a taken username or email are 409 naming
    the field, and store nothing; a transfer to ``Alice`` reaches alice, shown as alice."""
    name = f"alice_{uuid.uuid4().hex[:8]}"
    email = f"{name}@example.com"
    alice = {"email": email, "username": name, "password": PASSWORD}
    assert register(client, alice).status_code == 201
    impostor_names = [
        name.capitalize(),
        name.upper(),
        fullwidth(name),
        name.replace("l", "\u2113", 1),  # SCRIPT SMALL L, an l under NFKC
        name.replace("i", "\u2170", 1),  # SMALL ROMAN NUMERAL ONE, an i under NFKC
    ]
    for spelling in impostor_names:
        impostor = {**new_user(), "username": spelling}
        assert_taken(register(client, impostor), "username")
        assert store[USERS].count_documents({"email": impostor["email"]}) == 0
    impostor_emails = [
        email.upper(),
        f"{email}.",
        fullwidth(name[0]) + email[1:],
        f"{name}@EXAMPLE.com.",
    ]
    for spelling in impostor_emails:
        impostor = {**new_user(), "email": spelling}
        assert_taken(register(client, impostor), "email")
        assert store[USERS].count_documents({"username": impostor["username"]}) == 0
    assert store[USERS].count_documents({"username_key": name}) == 1
    assert store[USERS].count_documents({"email_key": email}) == 1

    alice_auth = bearer(login(client, {**alice, "email": email.upper()}))
    sender = new_user()
    register(client, sender)
    sender_auth = bearer(login(client, sender))
    sent = client.post(
        "/transactions/transfer",
        json={"to_username": name.capitalize(), "amount": 7},
        headers={**sender_auth, **WAIT},
    )
    assert sent.status_code == 200, sent.text
    assert client.get("/wallet/balance", headers=alice_auth).json()["balance"] == 107
    [line] = client.get("/transactions", headers=sender_auth).json()["items"]
    assert (line["direction"], line["counterparty"]) == ("out", name)
