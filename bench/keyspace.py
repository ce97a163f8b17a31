"""Redis's memory by key kind, and whether every key expires.

A key's kind is its name with each run of 16 or more hex digits (an id, a digest) read as
``{id}``. Every key is looked at for its TTL; ``MEMORY USAGE`` is asked of the first
``SAMPLE`` of each kind, so a kind's bytes are its mean over that sample times its count.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import redis

SAMPLE = 200
SCAN_COUNT = 5000
EXAMPLES = 3
_ID_RUN = re.compile(r"[0-9a-f]{16,}")
_GONE = -2  # PTTL of a key that no longer exists


def kind_of(name: str) -> str:
    return _ID_RUN.sub("{id}", name)


@dataclass
class KeyKind:
    """The keys of one kind: how many, how many without a TTL, their TTLs and sizes."""

    pattern: str
    count: int = 0
    without_ttl: int = 0
    min_ttl_s: float = float("inf")
    max_ttl_s: float = 0.0
    sampled_bytes: list[int] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)

    @property
    def mean_bytes(self) -> float:
        return sum(self.sampled_bytes) / len(self.sampled_bytes) if self.sampled_bytes else 0.0

    @property
    def total_bytes(self) -> float:
        return self.mean_bytes * self.count

    def add(self, name: str, ttl_ms: int) -> None:
        self.count += 1
        if ttl_ms < 0:
            self.without_ttl += 1
            if len(self.examples) < EXAMPLES:
                self.examples.append(name)
        else:
            self.min_ttl_s = min(self.min_ttl_s, ttl_ms / 1000)
            self.max_ttl_s = max(self.max_ttl_s, ttl_ms / 1000)

    def as_json(self) -> dict[str, Any]:
        return {
            "pattern": self.pattern,
            "count": self.count,
            "without_ttl": self.without_ttl,
            "ttl_s": [self.min_ttl_s, self.max_ttl_s] if self.count > self.without_ttl else None,
            "mean_bytes": round(self.mean_bytes, 1),
            "sampled": len(self.sampled_bytes),
            "examples_without_ttl": self.examples,
        }


@dataclass(frozen=True)
class Keyspace:
    used_memory: int
    kinds: list[KeyKind]

    @property
    def keys(self) -> int:
        return sum(kind.count for kind in self.kinds)

    def without_ttl(self) -> list[KeyKind]:
        return [kind for kind in self.kinds if kind.without_ttl]


def used_memory(client: redis.Redis) -> int:
    info = cast(dict[str, Any], client.info("memory"))
    return int(info["used_memory"])


def survey(client: redis.Redis) -> Keyspace:
    """Every key's kind and TTL, and the size of a sample of each kind; biggest kinds first."""
    kinds: dict[str, KeyKind] = {}
    for names in _batches(client.scan_iter(count=SCAN_COUNT), SCAN_COUNT):
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.pttl(name)
        sampled = []
        for name, ttl_ms in zip(names, pipe.execute(), strict=True):
            if ttl_ms == _GONE:
                continue
            kind = kinds.setdefault(kind_of(name), KeyKind(kind_of(name)))
            kind.add(name, int(ttl_ms))
            if kind.count <= SAMPLE:
                sampled.append((kind, name))
        _measure(client, sampled)
    ordered = sorted(kinds.values(), key=lambda k: (-k.total_bytes, k.pattern))
    return Keyspace(used_memory(client), ordered)


def _measure(client: redis.Redis, sampled: list[tuple[KeyKind, str]]) -> None:
    pipe = client.pipeline(transaction=False)
    for _, name in sampled:
        pipe.memory_usage(name, samples=0)
    for (kind, _), size in zip(sampled, pipe.execute(), strict=True):
        if size is not None:  # expired meanwhile
            kind.sampled_bytes.append(int(size))


def _batches(names: Iterable[Any], size: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for name in names:
        batch.append(name.decode() if isinstance(name, bytes) else str(name))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
