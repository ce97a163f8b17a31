"""Pure pieces of the operator surface: SSE framing, log formats, metric labels, API documents."""

from __future__ import annotations

import io
import json
import logging

import pytest

from api_gateway.asyncapi import build_asyncapi
from api_gateway.metrics import command_outcome
from api_gateway.openapi import build_openapi
from api_gateway.stream import sse
from core.celery_app import make_celery
from core.logs import JsonFormatter, LogFormat, TextFormatter, log_context, make_handler
from core.settings import Settings
from hookline.client.sse import iter_events
from modules import discover
from modules.introspection import declared
from workers.observability import envelope_ids


def test_sse_framing_round_trips_through_the_parser() -> None:
    """What the gateway writes, the CLI reads back: name, id and JSON data; comments skipped."""
    body = sse("status", {"status": "running"}, 1) + ": keep-alive\n\n" + sse("done", {"a": [1]}, 2)
    events = list(iter_events(body.splitlines()))
    assert [(e.event, e.id, e.json()) for e in events] == [
        ("status", "1", {"status": "running"}),
        ("done", "2", {"a": [1]}),
    ]


def _log_line(log_format: LogFormat, **extra: object) -> str:
    stream = io.StringIO()
    handler = make_handler(log_format)
    handler.setStream(stream)
    logger = logging.getLogger(f"test.{log_format}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with log_context("corr-1", "cmd-1"):
            logger.warning("paid %d credits", 5, extra=extra)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_json_lines_carry_the_context_and_extras() -> None:
    """A JSON line has the message, level, logger, both ids and the caller's extras."""
    line = json.loads(_log_line(LogFormat.JSON, user_id="u1"))
    assert line["message"] == "paid 5 credits" and line["level"] == "WARNING"
    assert (line["correlation_id"], line["command_id"], line["user_id"]) == (
        "corr-1",
        "cmd-1",
        "u1",
    )
    assert isinstance(JsonFormatter(), logging.Formatter)


def test_text_lines_are_readable_with_the_context_at_the_end() -> None:
    """The text format ends with the ids in brackets."""
    line = _log_line(LogFormat.TEXT)
    assert "WARNING" in line and "paid 5 credits" in line
    assert line.rstrip().endswith("[correlation_id=corr-1 command_id=cmd-1]")
    assert isinstance(TextFormatter(), logging.Formatter)


@pytest.mark.parametrize(
    ("status", "location", "outcome"),
    [
        (202, True, "accepted"),
        (201, True, "succeeded"),
        (409, True, "failed"),
        (422, False, "rejected"),
        (200, False, "read_model"),
        (503, False, "unavailable"),
    ],
)
def test_command_outcome_from_the_answer(status: int, location: bool, outcome: str) -> None:
    """The gateway's command outcome label follows the status and whether a command answered."""
    assert command_outcome(status, location) == outcome


def test_envelope_ids_for_command_and_event_tasks() -> None:
    """A command task's command id is its envelope id; an event task's is the event's command."""
    command = {"id": "c1", "correlation_id": "k1"}
    event = {"id": "e1", "correlation_id": "k1", "command_id": "c1"}
    assert envelope_ids("wallet.deposit", [command]) == ("k1", "c1")
    assert envelope_ids("event.wallet_credited", [event]) == ("k1", "c1")
    assert envelope_ids("celery.ping", []) == (None, None)


def test_documents_follow_the_declarations() -> None:
    """Query routes take their model as query parameters; /events orders hooks like a worker."""
    found = declared(discover())
    openapi = build_openapi(found)
    history = openapi["paths"]["/transactions"]["get"]
    assert {p["name"]: p["in"] for p in history["parameters"]} == {
        "limit": "query",
        "before": "query",
    }
    before = next(p for p in history["parameters"] if p["name"] == "before")
    assert before["schema"]["type"] == "integer"  # `int | None` as a plain optional integer
    asyncapi = build_asyncapi(found, "1")
    hooks = asyncapi["channels"]["wallet_credited"]["x-hooks"]
    assert [h["hook"] for h in hooks] == [h.key for h in found.hooks_for("wallet_credited")]
    assert hooks[-1]["wildcard"] is True
    assert set(asyncapi["channels"]) == set(found.catalogue)


def test_task_arguments_shown_in_flower_hide_secrets() -> None:
    """Messages a Hookline app builds carry an argsrepr that masks passwords and tokens."""
    envelope = {
        "id": "c1",
        "name": "user_management.login",
        "payload": {"email": "ada@example.com", "password": "hunter2hunter2"},
        "actor": {"refresh_token": "abc", "roles": ["user"]},
    }
    app = make_celery(Settings.model_validate({"BROKER_URL": "memory://"}), ["user_management"])
    app.send_task("user_management.login", args=[envelope], queue="user_management")
    with app.connection_for_read() as connection:
        message = connection.SimpleQueue("user_management").get(timeout=5)
        shown = message.headers["argsrepr"]
        message.ack()
    app.close()
    assert "hunter2" not in shown and "abc" not in shown
    assert shown.startswith('[{"payload": {"email"')
    assert json.loads(shown) == [
        {
            "id": "c1",
            "name": "user_management.login",
            "payload": {"email": "ada@example.com", "password": "***"},
            "actor": {"refresh_token": "***", "roles": ["user"]},
        }
    ]
