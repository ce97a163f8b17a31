"""The Idempotency-Key header's syntax, as parsed and as published in OpenAPI; undoing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api_gateway.commands import _run
from api_gateway.errors import BadRequest
from api_gateway.idempotency import KEY_PATTERN, parse_key
from api_gateway.openapi import build_openapi
from modules import RouteMode, discover
from modules.introspection import declared


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("8e03978e-40d5-43e8-bc93-6894a57f9324", "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"8e03978e-40d5-43e8-bc93-6894a57f9324"', "8e03978e-40d5-43e8-bc93-6894a57f9324"),
        ('"with space, comma"', "with space, comma"),
        (r'"a\"b\\c"', 'a"b\\c'),
        ("k" * 255, "k" * 255),
        ('"' + "k" * 255 + '"', "k" * 255),
        (r'"' + r"\"" * 255 + '"', '"' * 255),
    ],
)
def test_a_key_is_bare_or_an_sf_string(value: str, key: str) -> None:
    """The draft's quoted form and a bare token name the same key; escapes are undone."""
    assert parse_key(value) == key


@pytest.mark.parametrize(
    "value",
    [
        "",
        '""',
        "k" * 256,
        '"' + "k" * 256 + '"',
        '"open',
        '"a";x=1',
        "a b",
        "a,b",
        "a\\b",
        'a"b',
        r'"bad \n escape"',
        "caf\u00e9",
        '"caf\u00e9"',
    ],
)
def test_anything_else_is_400_naming_the_header(value: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_key(value)
    assert refused.value.extensions["field"] == "Idempotency-Key"


HEADER_VALUES = st.one_of(
    st.from_regex(KEY_PATTERN, fullmatch=True),
    st.text(alphabet='ab"\\, ;=\u00e9', max_size=10),
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=300),
)


@given(HEADER_VALUES)
def test_the_published_pattern_accepts_exactly_what_the_gateway_does(value: str) -> None:
    """OpenAPI's pattern and the parser agree on every header value (no surrounding blanks)."""
    value = value.strip(" \t")
    try:
        parse_key(value)
    except BadRequest:
        accepted = False
    else:
        accepted = True
    assert accepted == (re.fullmatch(KEY_PATTERN, value) is not None)


def test_undo_runs_every_step_even_when_one_fails() -> None:
    """The steps run last first; a failing one (Redis gone) does not stop the rest."""
    ran: list[str] = []

    def step(name: str, fails: bool = False) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            ran.append(name)
            if fails:
                raise ConnectionError(name)

        return run

    asyncio.run(_run([step("release key"), step("release slot", fails=True)]))
    assert ran == ["release slot", "release key"]


def test_openapi_publishes_the_header_and_its_policy_on_every_command_route() -> None:
    """Each command operation documents Idempotency-Key: syntax, scope and expiry; 409 and
    the replay header. Query routes take no key."""
    classes = discover()
    document = build_openapi(declared(classes))
    for cls in classes.values():
        for route in cls.routes:
            operation = document["paths"][route.path][route.method.lower()]
            headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
            if route.mode is RouteMode.QUERY:
                assert "Idempotency-Key" not in headers
                continue
            key = headers["Idempotency-Key"]
            assert key["schema"] == {"type": "string", "pattern": KEY_PATTERN}
            for policy in ("1 to 255", "caller", "route", "HOOKLINE_IDEMPOTENCY_TTL_S"):
                assert policy in key["description"]
            assert "24 hours by default" in key["description"]
            assert "first use" in key["description"]
            responses = operation["responses"]
            assert "Idempotency-Key" in responses["409"]["description"]
            assert "Idempotent-Replayed" in responses[str(route.success_status)]["headers"]
            assert "Idempotent-Replayed" in responses["202"]["headers"]
