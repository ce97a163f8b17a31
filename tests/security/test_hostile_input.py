"""Hostile input (OWASP API3, API8): refused with a 4xx problem before anything is written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from api_gateway.bodies import MAX_BODY_BYTES
from tests.e2e.helpers import new_user, signed_up
from tests.security.conftest import Doc, assert_refused, ledger_count

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=10"}
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "extra",
    [
        {"role": "admin"},
        {"roles": ["admin"]},
        {"balance": 1_000_000},
        {"user_id": "0" * 32},
        {"_id": "0" * 32},
        {"password_hash": "x"},
    ],
    ids=lambda e: next(iter(e)),
)
def test_mass_assignment_in_register_is_422(
    client: httpx.Client, store: Database[Doc], extra: dict[str, Any]
) -> None:
    """An extra field in register (role, balance, ids, hash) is 422 naming it; no user exists."""
    user = new_user()
    response = client.post("/public/register", json={**user, **extra}, headers=WAIT)
    assert_refused(response, 422)
    assert [e["field"] for e in response.json()["errors"]] == list(extra)
    assert store["user_management_users"].count_documents({"email": user["email"]}) == 0


@pytest.mark.parametrize(
    "raw",
    ["-5", "0", "1.5", "1e3", "10000000000000000000000000000000", "NaN", "Infinity", '"10"'],
)
def test_bad_amounts_are_422_and_move_nothing(
    client: httpx.Client, store: Database[Doc], raw: str
) -> None:
    """Negative, zero, fractional, huge, NaN, infinite or string amounts: 422 naming amount."""
    user_id, auth = signed_up(client)
    for route in ("/wallet/deposit", "/wallet/withdraw"):
        response = client.post(
            route, content=f'{{"amount": {raw}}}', headers={**auth, **JSON, **WAIT}
        )
        assert_refused(response, 422)
        assert response.json()["errors"][0]["field"] == "amount"
    assert ledger_count(store, user_id) == 1


def test_an_amount_of_thousands_of_digits_is_400_not_500(
    client: httpx.Client, store: Database[Doc]
) -> None:
    """An integer longer than Python parses by default is a 400, not a crash."""
    user_id, auth = signed_up(client)
    body = '{"amount": ' + "9" * 5000 + "}"
    response = client.post("/wallet/deposit", content=body, headers={**auth, **JSON, **WAIT})
    assert_refused(response, 400)
    assert ledger_count(store, user_id) == 1


@pytest.mark.parametrize(
    ("route", "body", "field"),
    [
        ("/public/login", {"email": {"$gt": ""}, "password": "x"}, "email.$gt"),
        ("/public/login", {"email": "a@b.co", "password": {"$ne": None}}, "password.$ne"),
        ("/public/register", {"username": {"$regex": ".*"}}, "username.$regex"),
        ("/public/register", {"$where": "1 == 1"}, "$where"),
        ("/public/register", {"email": {"profile.roles": "admin"}}, "email.profile.roles"),
        ("/public/refresh", {"refresh_token": [{"$gt": ""}]}, "refresh_token.0.$gt"),
    ],
)
def test_mongodb_operators_are_422_naming_the_field(
    client: httpx.Client, store: Database[Doc], route: str, body: dict[str, Any], field: str
) -> None:
    """A key starting with '$' or holding a '.' anywhere in the body is 422 naming its path."""
    before = store["user_management_users"].count_documents({})
    response = client.post(route, json=body, headers=WAIT)
    assert_refused(response, 422)
    assert response.json()["errors"][0]["field"] == field
    assert store["user_management_users"].count_documents({}) == before


def test_mongodb_operators_in_amount_and_recipient_are_422(
    client: httpx.Client, store: Database[Doc]
) -> None:
    """Operators in a deposit's amount or a transfer's recipient are 422; no credit moves."""
    user_id, auth = signed_up(client)
    headers = {**auth, **WAIT}
    deposit = client.post("/wallet/deposit", json={"amount": {"$gt": 0}}, headers=headers)
    assert_refused(deposit, 422)
    transfer = client.post(
        "/transactions/transfer",
        json={"to_username": {"$ne": "nobody"}, "amount": 1},
        headers=headers,
    )
    assert_refused(transfer, 422)
    assert transfer.json()["errors"][0]["field"] == "to_username.$ne"
    assert ledger_count(store, user_id) == 1


def test_an_operator_in_a_query_parameter_is_422(client: httpx.Client) -> None:
    """A query parameter named like an operator is 422."""
    _, auth = signed_up(client)
    response = client.get("/transactions", params={"$where": "1"}, headers=auth)
    assert_refused(response, 422)
    assert response.json()["errors"][0]["field"] == "$where"


def test_a_body_over_1_mib_is_413(client: httpx.Client, store: Database[Doc]) -> None:
    """A declared body over 1 MiB is 413 before it is read; no user is created."""
    user = {**new_user(), "padding": "x" * MAX_BODY_BYTES}
    response = client.post("/public/register", json=user, headers=WAIT)
    assert_refused(response, 413)
    assert store["user_management_users"].count_documents({"email": user["email"]}) == 0


def test_a_chunked_body_over_1_mib_is_413(client: httpx.Client, store: Database[Doc]) -> None:
    """A body streamed without a length is cut off at 1 MiB with 413."""
    user_id, auth = signed_up(client)

    def chunks() -> Iterator[bytes]:
        yield b'{"amount": 1, "pad": "'
        for _ in range(20):
            yield b"x" * 65536
        yield b'"}'

    response = client.post("/wallet/deposit", content=chunks(), headers={**auth, **JSON, **WAIT})
    assert_refused(response, 413)
    assert ledger_count(store, user_id) == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"email": "a@b.co", "password": ',
        b"{'email': 'a@b.co'}",
        b'{"email": "a@b.co"} trailing',
        b"\xff\xfe{}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"email": "a@b.co", "password": "\\ud800"}',
    ],
    ids=["truncated", "single-quotes", "trailing", "bad-utf8", "deeply-nested", "lone-surrogate"],
)
def test_malformed_json_is_400(client: httpx.Client, body: bytes) -> None:
    """Truncated, non-JSON, badly encoded, absurdly nested or invalid-Unicode bodies are 400."""
    response = client.post("/public/login", content=body, headers={**JSON, **WAIT})
    assert_refused(response, 400)


def test_a_body_on_a_route_that_takes_none_is_422(client: httpx.Client) -> None:
    """Logout takes no body: fields sent to it are 422 and the session stays open."""
    _, auth = signed_up(client)
    response = client.post("/userauth/logout", json={"user_id": "someone"}, headers=auth)
    assert_refused(response, 422)
    assert client.get("/userauth/me", headers=auth).status_code == 200


def test_a_non_json_content_type_is_415(client: httpx.Client) -> None:
    """A form-encoded login is refused with 415."""
    response = client.post("/public/login", data={"email": "a@b.co", "password": "x"})
    assert_refused(response, 415)
