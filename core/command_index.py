"""Each caller's index of their command ids, for ``GET /commands``.

A sorted set per owner whose members all score 0, so Redis orders them by id, and
command ids are time-ordered (``events.new_command_id``): newest last. The index is
bounded twice: an entry older than a command can live (its TTL after the longest
schedule) is trimmed, and only the newest ``command_index_max`` are kept. Entries of
commands that expired earlier are skipped (and removed) when a listing meets them.
Anonymous commands are not indexed: nobody could list them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeVar

import redis
import redis.asyncio

from core import keys
from core.settings import Settings
from events import Command, command_id_floor

_Pipeline = TypeVar("_Pipeline", redis.client.Pipeline, redis.asyncio.client.Pipeline)


@dataclass(frozen=True)
class IndexBounds:
    lifetime_s: int
    max_entries: int

    @classmethod
    def from_settings(cls, settings: Settings) -> IndexBounds:
        return cls(settings.command_ttl_s + settings.schedule_horizon_s, settings.command_index_max)


DEFAULT_BOUNDS = IndexBounds(lifetime_s=7 * 24 * 3600 + 30 * 24 * 3600, max_entries=10_000)


def queue_index_writes(pipe: _Pipeline, command: Command, bounds: IndexBounds) -> _Pipeline:
    """Add ``command`` to its owner's index (in the pipeline that records it), trimmed."""
    if command.actor.is_anonymous:
        return pipe
    key = keys.owner_commands(command.actor.principal)
    pipe.zadd(key, {command.id: 0})
    pipe.zremrangebylex(key, "-", "(" + command_id_floor(time.time() - bounds.lifetime_s))
    pipe.zremrangebyrank(key, 0, -(bounds.max_entries + 1))
    pipe.expire(key, bounds.lifetime_s)
    return pipe
