"""The gateway's request edge, piece by piece: header numbers, ``Prefer: wait``, JSON names
given twice, command ids, the open-wait cap, and the seam that frees a request's holds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis.asyncio
from starlette.requests import Request

from api_gateway.bodies import read_json
from api_gateway.commands import MAY_BE_DONE, Holds, _holding
from api_gateway.errors import BadRequest
from api_gateway.header_numbers import TOO_LARGE, header_number
from api_gateway.prefer import requested_wait_s
from api_gateway.waits import OpenWaits, TooManyWaits
from api_gateway.watcher import CommandWatcher
from events import is_id, new_id

MAX_WAIT_S = 30


def request(headers: list[tuple[bytes, bytes]], body: bytes = b"") -> Request:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers}
    return Request(scope, receive)


def prefer(*values: bytes) -> Request:
    return request([(b"prefer", value) for value in values])


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("0", 0),
        ("12", 12),
        (" 7\t", 7),
        ("²", None),
        ("٣", None),
        ("-1", None),
        ("1.5", None),
        ("", None),
        ("1 2", None),
        ("+3", None),
        ("9" * 5000, TOO_LARGE),
    ],
)
def test_header_numbers_are_ascii_digits_only(value: str, number: int | None) -> None:
    """'²' and '٣' pass str.isdigit(); here they are no number. Thousands of digits are
    never given to int()."""
    assert header_number(value) == number


@pytest.mark.parametrize(
    ("values", "wait_s"),
    [
        ((), 0),
        ((b"wait=5",), 5),
        ((b"WAIT = 7",), 7),
        ((b"respond-async, wait=5",), 5),
        ((b"wait=5; x=y",), 5),
        ((b"wait=100",), MAX_WAIT_S),
        ((b"wait=" + b"9" * 5000,), MAX_WAIT_S),
        ((b"return=minimal",), 0),
        ((b'foo="a,b", wait=3',), 3),
        ((b"wait=3, wait=x",), 3),
        ((b"wait=3", b"wait=9"), 3),
    ],
)
def test_prefer_wait_is_read_as_rfc_7240_has_it(values: tuple[bytes, ...], wait_s: int) -> None:
    """Other preferences and parameters are ignored; the first wait counts, capped."""
    assert requested_wait_s(prefer(*values), MAX_WAIT_S) == wait_s


@pytest.mark.parametrize(
    "value", [b"wait=\xb2", b"wait=\xb9", b"wait=", b"wait", b"wait=-1", b"wait=1.5", b'wait="5"']
)
def test_a_malformed_wait_is_400_naming_prefer(value: bytes) -> None:
    """A wait that is not ASCII digits ('²' is byte 0xB2 in Latin-1) is the client's bug."""
    with pytest.raises(BadRequest) as refused:
        requested_wait_s(prefer(value), MAX_WAIT_S)
    assert refused.value.extensions["field"] == "Prefer"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"amount": 1, "amount": 999999}', "amount"),
        (b'{"amount": 1, "\\u0061mount": 2}', "amount"),
        (b'{"a": {"b": [{"c": 1, "c": 1}]}}', "a.b.0.c"),
        (b'[{"x": 1}, {"y": 1, "y": 2, "z": 1, "z": 2}]', "1.y"),
    ],
)
def test_a_json_name_given_twice_is_400_naming_it(body: bytes, field: str) -> None:
    """At any depth, however it is escaped; the first repeated name is named."""
    with pytest.raises(BadRequest) as refused:
        asyncio.run(read_json(request([], body)))
    assert refused.value.extensions["field"] == field


def test_distinct_names_and_a_malformed_content_length_pass() -> None:
    """A Content-Length of '²' is no length (the body is still capped as it is read)."""
    body = b'{"a": {"a": 1}, "b": [{"a": 2}]}'
    parsed = asyncio.run(read_json(request([(b"content-length", b"\xb2")], body)))
    assert parsed == {"a": {"a": 1}, "b": [{"a": 2}]}


@pytest.mark.parametrize(
    "text", ["x:hooks", "", "0" * 31, "0" * 33, "A" * 32, "g" * 32, "0" * 32 + "\n", "é" * 32]
)
def test_only_ids_of_new_ids_shape_are_ids(text: str) -> None:
    assert not is_id(text)
    assert is_id(new_id())


def test_open_waits_are_capped_per_caller_and_in_all() -> None:
    """The per-caller cap refuses one caller only; the total refuses everyone; a slot given
    back (twice, harmlessly) makes room again; a request that waits 0 s takes none."""
    waits = OpenWaits(per_caller=2, total=3)
    first = [waits.take("user:a"), waits.take("user:a")]
    with pytest.raises(TooManyWaits) as refused:
        waits.take("user:a")
    assert refused.value.status == 429 and refused.value.retry_after_s > 0
    waits.take("user:b")
    with pytest.raises(TooManyWaits):
        waits.take("user:c")
    first[0].release()
    first[0].release()
    waits.take("user:c")
    with pytest.raises(TooManyWaits), waits.held("user:d", 5):
        pass
    with waits.held("user:d", 0):
        pass


def test_holds_are_freed_last_first_on_any_failure_and_kept_once_accepted() -> None:
    """An error or a cancellation after a claim frees every hold; a kept one is not freed."""
    freed: list[str] = []

    def step(name: str) -> Any:
        async def free() -> None:
            freed.append(name)

        return free

    async def scenario(failure: BaseException | None, keep: bool) -> None:
        async with _holding() as holds:
            holds.add(step("key"))
            holds.add(step("slot"))
            if keep:
                holds.keep()
            if failure is not None:
                raise failure

    for failure in (ValueError("boom"), asyncio.CancelledError()):
        freed.clear()
        with pytest.raises(type(failure)):
            asyncio.run(scenario(failure, keep=False))
        assert freed == ["slot", "key"]
    freed.clear()
    with pytest.raises(ValueError):
        asyncio.run(scenario(ValueError("after publish"), keep=True))
    asyncio.run(scenario(None, keep=False))
    assert freed == []
    assert Holds().steps == []


def test_a_confirmed_subscription_wakes_every_waiter() -> None:
    """Whatever changed while the watcher was not subscribed: every waiter re-reads."""

    async def scenario() -> tuple[bool, bool, bool]:
        watcher = CommandWatcher(redis.asyncio.Redis())
        async with watcher.watch("c1", MAY_BE_DONE) as outcome, watcher.watch("c2") as every:
            watcher.handle(
                {"type": "pmessage", "channel": "hookline:cmd:c2:changes", "data": "hook"}
            )
            only_c2 = every.is_set() and not outcome.is_set()
            every.clear()
            watcher.handle({"type": "psubscribe", "channel": "hookline:cmd:*:changes", "data": 1})
            return only_c2, outcome.is_set(), every.is_set()

    assert asyncio.run(scenario()) == (True, True, True)
