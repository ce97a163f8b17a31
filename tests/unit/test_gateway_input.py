"""Input checks the gateway makes before a model sees the data."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from starlette.datastructures import QueryParams
from starlette.requests import Request

from api_gateway.bodies import check_json, check_query
from api_gateway.errors import BadRequest
from api_gateway.idempotency import fingerprint, idempotency_key
from core.sealing import KeyRing, new_key_entry, seal_command
from events import Command, InvalidInput
from events.paging import PageQuery


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"$gt": ""}, "$gt"),
        ({"a": {"b": [{"c.d": 1}]}}, "a.b.0.c.d"),
        ([{"$where": "1"}], "0.$where"),
        ({"a\0b": 1}, "a\0b"),
    ],
)
def test_operator_and_dotted_keys_are_refused_naming_the_path(data: Any, field: str) -> None:
    """Any key starting with '$' or holding '.' (or NUL), at any depth, is a 422 naming it."""
    with pytest.raises(InvalidInput) as refused:
        check_json(data)
    assert refused.value.extensions["errors"][0]["field"] == field


def test_plain_data_and_dollar_values_pass() -> None:
    """A '$' in a value is just text; only keys are operators."""
    check_json({"note": "$gt costs $5", "list": [1, "a.b", {"ok": None}]})


def test_a_lone_surrogate_is_400() -> None:
    """Text that cannot be encoded as UTF-8 is refused as a bad request."""
    with pytest.raises(BadRequest, match="password"):
        check_json({"password": "\ud800"})


def test_deep_nesting_is_walked_without_recursion() -> None:
    """A 100,000-level structure is checked without a RecursionError."""
    data: Any = "leaf"
    for _ in range(100_000):
        data = [data]
    check_json(data)


def test_query_parameters_on_a_route_without_a_query_model_are_422() -> None:
    """An unexpected query parameter is refused; with a model, parameters go to the model."""
    with pytest.raises(InvalidInput, match="user_id"):
        check_query(QueryParams({"user_id": "someone"}), None)
    assert check_query(QueryParams({"limit": "2"}), PageQuery) == {"limit": "2"}


def request(*keys: str) -> Request:
    headers = [(b"idempotency-key", key.encode()) for key in keys]
    return Request({"type": "http", "headers": headers})


def test_idempotency_key_shape() -> None:
    """Absent is None; 1 to 255 characters pass; empty, longer or repeated keys are 400."""
    assert idempotency_key(request()) is None
    assert idempotency_key(request("k" * 255)) == "k" * 255
    for bad in (request("k" * 256), request(" "), request("a", "b")):
        with pytest.raises(BadRequest):
            idempotency_key(bad)


RING = KeyRing.parse(new_key_entry("k1"))


def _print(name: str, payload: dict[str, object], sensitive: frozenset[str] = frozenset()) -> str:
    return fingerprint(RING, seal_command(RING, Command(name=name, payload=payload), sensitive))


def test_fingerprint_ignores_key_order_but_not_values_or_command() -> None:
    """Same command and payload fingerprint alike whatever the key order."""
    same = _print("wallet.deposit", {"a": 1, "b": 2})
    assert same == _print("wallet.deposit", {"b": 2, "a": 1})
    assert same != _print("wallet.withdraw", {"a": 1, "b": 2})
    assert same != _print("wallet.deposit", {"a": 1, "b": 3})


def test_fingerprint_covers_sealed_fields_and_is_keyed() -> None:
    """Another password is another request; the digest is no plain hash of the password."""
    secret = frozenset({"password"})
    first = _print(
        "user_management.login", {"email": "a@b.c", "password": "hunter2hunter2"}, secret
    )
    again = _print(
        "user_management.login", {"email": "a@b.c", "password": "hunter2hunter2"}, secret
    )
    other = _print(
        "user_management.login", {"email": "a@b.c", "password": "hunter3hunter3"}, secret
    )
    assert first == again != other
    payload = '{"email":"a@b.c","password":"hunter2hunter2"}'
    canonical = f'{{"command":"user_management.login","payload":{payload}}}'
    assert first != hashlib.sha256(canonical.encode()).hexdigest()
