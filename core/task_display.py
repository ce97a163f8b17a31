"""How a task's arguments show in Flower and in Celery's task events: redacted and short.

Celery puts ``argsrepr`` in every message's headers and in its ``task-sent``
event, and shows it wherever arguments are displayed (Flower's tasks page,
``celery events``). A command's envelope can hold a password or a token, so
every Hookline app builds messages with ``RedactingAMQP``: the repr is the
arguments' JSON with sensitive values masked. It covers every way a message is
made (the gateway's ``send_task``, the event bus, a task's retry).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Sequence
from typing import Any

from celery.app.amqp import AMQP

SENSITIVE_PARTS = ("password", "token", "secret")
MASK = "***"
MAX_ARGSREPR_CHARS = 1024


def redacted(value: Any) -> Any:
    """``value`` with every mapping entry whose key names a secret masked, at any depth."""
    if isinstance(value, dict):
        return {key: MASK if _sensitive(key) else redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redacted(item) for item in value]
    return value


def _sensitive(key: object) -> bool:
    return isinstance(key, str) and any(part in key.lower() for part in SENSITIVE_PARTS)


def _payload_first(value: Any) -> Any:
    """An envelope with its payload in front, where a truncated column still shows it."""
    if isinstance(value, dict) and "payload" in value:
        return {"payload": value["payload"], **value}
    return value


def display_args(args: Sequence[Any]) -> str:
    shown = [_payload_first(redacted(arg)) for arg in args]
    text = json.dumps(shown, default=str, separators=(", ", ": "))
    return text if len(text) <= MAX_ARGSREPR_CHARS else text[: MAX_ARGSREPR_CHARS - 1] + "…"


def summary(args: Sequence[Any]) -> str:
    """The short form the sender shows: each envelope as its payload, name and id (a
    command's credentials are sealed out of its payload already; other keys that name a
    secret are masked), other arguments as they are."""
    return display_args([_envelope_summary(arg) for arg in args])


def _envelope_summary(value: Any) -> Any:
    if isinstance(value, dict) and "payload" in value and "name" in value:
        return {"payload": value["payload"], "name": value["name"], "id": value.get("id")}
    return value


class RedactingAMQP(AMQP):  # type: ignore[misc]
    """Celery's message builder, with the arguments' repr redacted unless one is given."""

    def as_task_v2(self, *args: Any, **kwargs: Any) -> Any:
        # Celery passes most parameters by position, so bind them to find ``args``.
        bound = _AS_TASK_V2.bind(self, *args, **kwargs)
        task_args = bound.arguments.get("args")
        if bound.arguments.get("argsrepr") is None and isinstance(task_args, list | tuple):
            bound.arguments["argsrepr"] = display_args(task_args)
        return super().as_task_v2(*bound.args[1:], **bound.kwargs)


_AS_TASK_V2 = inspect.signature(AMQP.as_task_v2)
