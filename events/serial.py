"""Per-key order of commands: which commands share one line (``Route.serialize_by``).

Commands with the same serial key run one at a time, in the order the gateway
accepted them, across every worker (``core.serial``). The key names what is
shared, never the route, so one user's deposits, withdrawals and transfers are
one line.
"""

from __future__ import annotations

from enum import StrEnum

from events.envelopes import Actor


class SerializeBy(StrEnum):
    """What a route's commands are lined up by."""

    # The acting principal: every command of one user (or one API key) is one line.
    ACTOR = "actor"


def serial_key(by: SerializeBy, actor: Actor) -> str:
    """The line a command of ``actor`` joins, e.g. ``actor:user:<id>``: the one place the
    key's format is made."""
    return f"{by}:{actor.principal}"
