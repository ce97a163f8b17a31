"""The envelopes that travel on the bus: commands, the events they cause, results."""

from __future__ import annotations

import os
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from events.problem import Problem
from events.sensitive import split_sensitive

# Namespace for deterministic event ids: the same command and position give the same id.
EVENT_ID_NAMESPACE = uuid.UUID("6f1d2c1e-4b7a-4f0e-9a51-8d3c2b1a0e77")


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


# What ``new_id`` makes: 32 lowercase hex digits. A command id given in a URL is checked
# against it before it names anything in Redis (``x:hooks`` would name another key).
ID_PATTERN = "^[0-9a-f]{32}$"
_ID = re.compile("[0-9a-f]{32}")


def is_id(text: str) -> bool:
    """Whether ``text`` has the shape of an id ``new_id`` makes."""
    return _ID.fullmatch(text) is not None


def new_command_id() -> str:
    """A UUIDv7 (RFC 9562) in ``new_id``'s shape: its first 48 bits are the Unix time in
    milliseconds, so ids sort by when they were made (a caller's command index is ordered
    by id) and an id tells how old its command would be (a ``410`` once past its TTL)."""
    ms = time.time_ns() // 1_000_000
    rand_a = int.from_bytes(os.urandom(2), "big") & 0xFFF  # 12 bits
    rand_b = int.from_bytes(os.urandom(8), "big") & (2**62 - 1)  # 62 bits
    value = (ms << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return f"{value:032x}"


def command_id_time(command_id: str) -> float | None:
    """When a ``new_command_id`` id was made (Unix seconds); None for any other id
    (ids made before commands had time-ordered ids are random UUIDv4s)."""
    if not is_id(command_id) or command_id[12] != "7":
        return None
    return int(command_id[:12], 16) / 1000


def command_id_floor(moment: float) -> str:
    """The smallest id ``new_command_id`` could make at ``moment``: ids below it are older."""
    return f"{int(moment * 1000):012x}" + "0" * 20


class Actor(BaseModel):
    """Who submitted a command: a user, an API key, or nobody (public routes)."""

    model_config = ConfigDict(frozen=True)

    user_id: str | None = None
    roles: tuple[str, ...] = ()
    api_key_id: str | None = None
    # The permissions an API key was given; users get theirs from their roles.
    scopes: tuple[str, ...] = ()

    @property
    def is_anonymous(self) -> bool:
        return self.user_id is None and self.api_key_id is None

    @property
    def principal(self) -> str:
        """A stable name for ownership checks: ``user:<id>``, ``key:<id>`` or ``anonymous``."""
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.api_key_id is not None:
            return f"key:{self.api_key_id}"
        return "anonymous"


class Sealed(BaseModel):
    """Encrypted fields (``core.sealing``): the key that sealed them and the ciphertext."""

    model_config = ConfigDict(frozen=True)

    key_id: str
    data: str = Field(description="URL-safe base64 of the nonce and the AES-GCM ciphertext")


class Command(BaseModel):
    """A request to change (or read) state, addressed to one module by name.

    The sensitive fields of the request are not in ``payload``: they travel in
    ``sealed``, which only a worker opens.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=new_command_id)
    name: str
    payload: dict[str, Any] = Field(default_factory=dict)
    sealed: Sealed | None = None
    actor: Actor = Field(default_factory=Actor)
    correlation_id: str = Field(default_factory=new_id)
    submitted_at: datetime = Field(default_factory=utc_now)
    # ``Command-Not-Before``: held in the schedule until then. ``Command-Deadline``: a
    # command not started by then is expired and never runs.
    not_before: datetime | None = None
    deadline: datetime | None = None
    # The line it runs in, one at a time in acceptance order (``events.serial``); set by the
    # gateway from its route's ``serialize_by``. None: it runs whenever a worker is free.
    serial_key: str | None = None
    # The W3C trace context of the request that made it (``core.tracing``), when tracing.
    traceparent: str | None = None
    # The digest of an anonymous command's claim; kept by the gateway, never on the bus.
    claim_digest: str | None = Field(None, exclude=True, repr=False)

    @property
    def module(self) -> str:
        return self.name.split(".", 1)[0]


class Event(BaseModel):
    """Something that happened; dispatched to every hook registered for its name."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    payload: dict[str, Any] = Field(default_factory=dict)
    occurred_at: datetime = Field(default_factory=utc_now)
    correlation_id: str
    causation_id: str
    command_id: str
    depth: int = 0
    # The version of the payload's model when it was emitted (``events.catalogue.EventSpec``);
    # an envelope from before versions has none, and is version 1.
    version: int = Field(1, ge=1)
    # The W3C trace context of the run that emitted it (``core.tracing``), when tracing.
    traceparent: str | None = None

    @staticmethod
    def derive_id(cause_id: str, position: int) -> str:
        """The id of the ``position``-th event caused by ``cause_id``; stable across retries."""
        return uuid.uuid5(EVENT_ID_NAMESPACE, f"{cause_id}/{position}").hex


class CommandResult(BaseModel):
    """What a command produced, with the HTTP status it maps to.

    ``secret`` holds the body's sensitive fields, apart from it: never serialized,
    sealed by the worker before the result is stored, handed over once.
    """

    model_config = ConfigDict(frozen=True)

    status_code: int = 200
    body: dict[str, Any] | list[Any] | None = None
    secret: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)

    @classmethod
    def of(cls, body: BaseModel | None, status_code: int = 200) -> CommandResult:
        """The result carrying ``body``, its sensitive fields kept apart."""
        if body is None:
            return cls(status_code=status_code)
        plain, secret = split_sensitive(type(body), body.model_dump(mode="json"))
        return cls(status_code=status_code, body=plain, secret=secret)

    def revealed(self, secret: dict[str, Any]) -> dict[str, Any] | list[Any] | None:
        """The body with its sensitive fields back in place."""
        if not secret or not isinstance(self.body, dict):
            return self.body
        return {**self.body, **secret}


class CommandOutcome(BaseModel):
    """A finished command as a client sees it: a result or a problem."""

    model_config = ConfigDict(frozen=True)

    result: CommandResult | None = None
    error: Problem | None = None

    @property
    def status_code(self) -> int:
        if self.error is not None:
            return self.error.status
        return self.result.status_code if self.result else 200
