"""The leak guard's matching: every form a secret can take, and excerpts that never show it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest

from tests.leaks import (
    KombuBody,
    Leak,
    Matcher,
    kombu_bodies,
    parse_monitor_line,
    redis_db,
    secret_forms,
    unescape_monitor_arg,
)

SECRET = "hunter2-correct-horse"
LABEL = "ada's password"


@pytest.fixture
def matcher() -> Matcher:
    return Matcher({LABEL: SECRET})


def kombu_message(body: object, argsrepr: str = "[{}]") -> bytes:
    """A message as kombu's Redis transport pushes it onto a queue list."""
    encoded = base64.b64encode(json.dumps(body).encode()).decode()
    message = {
        "body": encoded,
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"task": "user_management.register", "argsrepr": argsrepr},
        "properties": {"body_encoding": "base64", "delivery_tag": "abc", "priority": 0},
    }
    return json.dumps(message).encode()


def assert_masked(leak: Leak, secret: str = SECRET) -> None:
    assert secret not in leak.excerpt and secret not in leak.place
    assert secret not in str(leak) and secret not in repr(leak)


def test_a_literal_value_is_found_with_its_place_and_a_masked_excerpt(matcher: Matcher) -> None:
    (leak,) = matcher.find(f"user ada logged in with {SECRET} just now", "log gateway.log:3")
    assert (leak.label, leak.place) == (LABEL, "log gateway.log:3")
    assert leak.excerpt == f"user ada logged in with <{LABEL}> just now"
    assert_masked(leak)


def test_a_json_escaped_value_is_found() -> None:
    secret = 'quote"back\\slash-é'
    text = json.dumps({"password": secret})
    assert secret not in text
    (leak,) = Matcher({"pw": secret}).find(text, "mongo db.users _id=1")
    assert leak.excerpt == '{"password": "<pw>"}'
    assert_masked(leak, secret)


@pytest.mark.parametrize("prefix", [b"", b"a", b"ab", b"abc", b'{"p": "'])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_a_value_inside_base64_is_found_at_every_alignment(
    prefix: bytes, encode: Callable[[bytes], bytes]
) -> None:
    secret = "s3cr3t?>?>~~value"  # '?>' and '~~' differ between the two alphabets
    blob: bytes = encode(prefix + secret.encode() + b'", "more": 1}')
    text = f"HSET unacked tag {blob.decode()}"
    (leak,) = Matcher({"pw": secret}).find(text, "somewhere")
    assert "<pw>" in leak.excerpt
    assert_masked(leak, secret)


def test_each_alignment_of_base64_is_matched_whatever_the_neighbouring_bytes() -> None:
    forms = secret_forms(SECRET)
    for before in (b"", b"\x00", b"\xff", b"\x12\x34", b"\xfe\xdc\xba"):
        for after in (b"", b"\x00", b"\xff", b"\x01\x02"):
            blob = base64.b64encode(before + SECRET.encode() + after).decode()
            assert any(form in blob for form in forms), (before, after)


def test_a_kombu_body_is_decoded_and_searched(matcher: Matcher) -> None:
    raw = kombu_message([{"payload": {"email": "ada@x.io", "password": SECRET}}])
    (leak,) = matcher.find_in_bytes(raw, "bus: LPUSH user_management")
    assert leak.place == "bus: LPUSH user_management (decoded body of user_management.register)"
    assert f'"password": "<{LABEL}>"' in leak.excerpt
    assert_masked(leak)


def test_kombu_bodies_are_found_inside_the_unacked_entry() -> None:
    message = json.loads(kombu_message({"k": "v"}))
    unacked = [message, "", "user_management"]
    assert list(kombu_bodies(unacked)) == [KombuBody("user_management.register", b'{"k": "v"}')]


def test_an_event_message_body_is_decoded_too() -> None:
    message = json.loads(kombu_message({"type": "task-sent", "args": SECRET}))
    del message["headers"]["task"]  # events name no task
    raw = json.dumps(message).encode()
    (leak,) = Matcher({LABEL: SECRET}).find_in_bytes(raw, "bus: PUBLISH /13.celeryev/task.sent")
    assert leak.place == "bus: PUBLISH /13.celeryev/task.sent (decoded body)"


def test_a_value_escaped_twice_inside_json_is_found_in_its_strings() -> None:
    secret = 'has "quotes" in it'
    argsrepr = json.dumps([{"note": secret}])
    raw = kombu_message([], argsrepr=argsrepr)
    (leak,) = Matcher({"note": secret}).find_in_bytes(raw, "bus: LPUSH q")
    assert leak.place == "bus: LPUSH q (json)"
    assert_masked(leak, secret)


def test_a_clean_value_is_not_found(matcher: Matcher) -> None:
    raw = kombu_message([{"payload": {"password": "something-else-entirely"}}])
    assert matcher.find_in_bytes(raw, "bus: LPUSH q") == []
    assert matcher.find("hunter2-correct-hors", "log") == []


def test_monitor_escaping_is_undone() -> None:
    secret = 'tab\there "quoted" back\\slash é\n'
    escaped = b'"tab\\there \\"quoted\\" back\\\\slash \\xc3\\xa9\\n"'  # how MONITOR quotes it
    assert unescape_monitor_arg(escaped[1:-1]) == secret.encode()
    raw = b'1700000000.123456 [13 127.0.0.1:50312] "HSET" "hookline:cmd:abc" "result" ' + escaped
    line = parse_monitor_line(raw)
    assert line is not None
    assert (line.db, line.client) == (13, "127.0.0.1:50312")
    assert line.args == (b"HSET", b"hookline:cmd:abc", b"result", secret.encode())
    assert line.place == "bus: HSET hookline:cmd:abc"
    (leak,) = Matcher({"pw": secret}).find_in_bytes(line.args[3], line.place)
    assert leak.place == "bus: HSET hookline:cmd:abc"


def test_a_monitor_argument_ending_in_a_backslash_stays_one_argument() -> None:
    raw = b'1700000000.1 [0 lua] "set" "k\\\\" "v"'
    line = parse_monitor_line(raw)
    assert line is not None
    assert line.args == (b"set", b"k\\", b"v")
    assert line.place == "bus (lua): SET k\\"


def test_a_line_that_is_not_from_monitor_is_ignored() -> None:
    assert parse_monitor_line(b"OK") is None


def test_a_short_value_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        Matcher({"pin": "1234567"})
    assert secret_forms("12345678")[0] == "12345678"


def test_the_excerpt_never_contains_the_secret_even_when_it_repeats() -> None:
    other = "another-credential-99"
    text = ("x" * 30 + SECRET) * 5 + other + base64.b64encode(SECRET.encode()).decode()
    leaks = Matcher({LABEL: SECRET, "other": other}).find(text, f"redis key k:{SECRET} name")
    assert {leak.label for leak in leaks} == {LABEL, "other"}
    for leak in leaks:
        assert_masked(leak)
        assert other not in leak.excerpt
        assert leak.place == f"redis key k:<{LABEL}> name"
        assert len(leak.excerpt) < 2 * 40 + 40


def test_redis_db_reads_the_database_of_a_url() -> None:
    assert redis_db("redis://127.0.0.1:6379/13") == 13
    assert redis_db("redis://127.0.0.1:6379") == 0
