"""What one command and one user leave in the stores, captured from the code that writes
them, and copies of it with fresh ids: the seeds of ``--scale`` (``bench.seed``).

The command is a real probe command through the running gateway and worker: what the
second of two commands leaves that was not there after the first (its documents in
MongoDB, its keys under ``hookline:`` in Redis, each with its TTL). The user is a real
registration through the modules' runtime, in-process (``workers.testing.Harness``): its
user, its wallet and the wallet's first ledger entry. Nothing is written by hand, so the
seeds keep the shapes the code writes, whatever it comes to write.

A copy replaces each token of its template (every run of 24 or more hex digits in it: ids,
digests; and the names it was given) by one made from the token and the copy's number;
a token can stand for another template's, so command ``i`` is owned by user ``i``. Times,
numbers and everything else stay the template's.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis
from pymongo import MongoClient
from pymongo.database import Database

from bench.caller import USER_ID
from bench.run import hookline_running
from bench.servers import BENCH_MONGO_DB, Servers
from core import keys
from workers.testing import Harness, HarnessConfig

Document = dict[str, Any]
# Long enough that only ids and digests match, never a time or a count.
_HEX_RUN = re.compile(r"[0-9a-f]{24,}")
# The worker's history writer lingers up to 50 ms; its writes land well within this.
SETTLE_S = 1.0
TEMPLATE_DB = "hookline_bench_template"
# One user's name, 16 characters, so its copies keep the length (``derive``).
SEED_NAME = "seed000000000000"
USER_COLLECTIONS = ("user_management_users", "wallet_wallets", "wallet_ledger")


@dataclass(frozen=True)
class RedisKey:
    """One key as Redis holds it: its type, its value and its TTL (-1: none)."""

    name: str
    kind: str
    value: Any
    ttl_ms: int


@dataclass(frozen=True)
class Template:
    """What one unit left: documents by collection, Redis keys, and the tokens that make
    it this one; ``principal`` is the token naming its owner (a user id, the caller)."""

    what: str
    documents: dict[str, list[Document]]
    keys: tuple[RedisKey, ...]
    tokens: tuple[str, ...]
    principal: str

    @property
    def document_count(self) -> int:
        return sum(len(docs) for docs in self.documents.values())


# -- copies ---------------------------------------------------------------------------------

Filler = Callable[[Sequence[str]], Any]


def derive(token: str, number: int) -> str:
    """Copy ``number``'s stand-in for ``token``: as long, unique per token and number."""
    if len(token) >= 16:
        return f"{token[:-12]}{number:012x}"
    return f"{token}-{number:x}"


class Copies:
    """The ``i``-th copy of a template: each token replaced by ``derive(token, i)``, or by
    ``derive(source, i)`` when ``sources`` names another template's token for it."""

    def __init__(self, template: Template, sources: Mapping[str, str] | None = None) -> None:
        self.template = template
        tokens = sorted(template.tokens, key=len, reverse=True)  # the longer replaced first
        self._sources = [(sources or {}).get(t, t) for t in tokens]
        self._documents = {
            name: [_shape(d, tokens) for d in docs] for name, docs in template.documents.items()
        }
        self._keys = [(_shape(k.name, tokens), _shape(k.value, tokens), k) for k in template.keys]

    def values(self, number: int) -> list[str]:
        return [derive(source, number) for source in self._sources]

    def documents(self, collection: str, number: int) -> list[Document]:
        values = self.values(number)
        return [dict(fill(values)) for fill in self._documents[collection]]

    def keys(self, number: int) -> list[RedisKey]:
        values = self.values(number)
        return [RedisKey(n(values), k.kind, v(values), k.ttl_ms) for n, v, k in self._keys]


def _shape(value: Any, tokens: Sequence[str]) -> Filler:
    """A function of the tokens' stand-ins that builds ``value`` with them in; what has no
    token in it is shared by every copy (pymongo and redis-py only read it)."""
    if not any(token in repr(value) for token in tokens):
        return lambda _values: value
    if isinstance(value, str):
        pattern = value.replace("{", "{{").replace("}", "}}")
        for number, token in enumerate(tokens):
            pattern = pattern.replace(token, f"{{{number}}}")
        return lambda values: pattern.format(*values)
    if isinstance(value, dict):
        pairs = [(_shape(k, tokens), _shape(v, tokens)) for k, v in value.items()]
        return lambda values: {k(values): v(values) for k, v in pairs}
    items = [_shape(item, tokens) for item in value]
    return lambda values: [item(values) for item in items]


def tokens_in(values: Iterable[Any], names: Iterable[str] = ()) -> tuple[str, ...]:
    found = set(names)
    for value in values:
        found.update(_HEX_RUN.findall(repr(value)))
    return tuple(sorted(found))


# -- snapshots ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    documents: dict[str, dict[Any, Document]]
    keys: dict[str, RedisKey] = field(default_factory=dict)


def documents_of(db: Database[Document]) -> dict[str, dict[Any, Document]]:
    return {
        name: {d["_id"]: d for d in db[name].find()}
        for name in db.list_collection_names()
        if not name.startswith("system.")
    }


def keys_of(client: redis.Redis, prefix: str = f"{keys.PREFIX}:") -> dict[str, RedisKey]:
    found = (read_key(client, str(name)) for name in client.scan_iter(f"{prefix}*", count=1000))
    return {key.name: key for key in found if key is not None}


_READERS: dict[str, Callable[[redis.Redis, str], Any]] = {
    "string": lambda c, n: c.get(n),
    "hash": lambda c, n: c.hgetall(n),
    "list": lambda c, n: c.lrange(n, 0, -1),
    "set": lambda c, n: sorted(cast(set[str], c.smembers(n))),
    "zset": lambda c, n: c.zrange(n, 0, -1, withscores=True),
}


def read_key(client: redis.Redis, name: str) -> RedisKey | None:
    kind = str(client.type(name))
    reader = _READERS.get(kind)
    if reader is None:  # gone meanwhile, or a type no command leaves
        return None
    return RedisKey(name, kind, reader(client, name), int(cast(int, client.pttl(name))))


def added(before: Snapshot, after: Snapshot) -> Snapshot:
    """What ``after`` holds that ``before`` did not: new documents, new keys."""
    documents = {
        name: {i: d for i, d in docs.items() if i not in before.documents.get(name, {})}
        for name, docs in after.documents.items()
    }
    return Snapshot(
        {name: docs for name, docs in documents.items() if docs},
        {name: key for name, key in after.keys.items() if name not in before.keys},
    )


def template_of(what: str, new: Snapshot, names: Iterable[str], principal: str) -> Template:
    documents = {name: list(docs.values()) for name, docs in new.documents.items()}
    key_list = tuple(new.keys.values())
    values = [*documents.values(), *((k.name, k.value) for k in key_list)]
    return Template(what, documents, key_list, tokens_in(values, names), principal)


# -- capture --------------------------------------------------------------------------------


def capture_command(servers: Servers, logs: Path) -> Template:
    """A probe command's documents and keys, through the gateway and worker."""
    mongo: MongoClient[Document] = MongoClient(servers.mongo_url, tz_aware=True)
    client = redis.Redis.from_url(servers.redis_url, decode_responses=True)
    try:
        db = mongo[BENCH_MONGO_DB]
        with hookline_running(servers, 1, logs) as driver:
            snapshots = []
            for _ in range(2):
                driver.closed(1, 1)
                time.sleep(SETTLE_S)
                snapshots.append(Snapshot(documents_of(db), keys_of(client)))
        return template_of("command", added(*snapshots), [USER_ID], USER_ID)
    finally:
        client.close()
        mongo.close()


def capture_user(servers: Servers, work_dir: Path) -> Template:
    """A registered user's user, wallet and ledger documents, through the modules' runtime."""
    config = HarnessConfig(servers.redis_url, servers.mongo_url, TEMPLATE_DB, work_dir / "seed")
    harness = Harness.start(["wallet"], config)
    try:
        before = Snapshot(documents_of(harness.services.db))
        request = {"email": f"{SEED_NAME}@example.com", "username": SEED_NAME, "password": "x" * 12}
        run = harness.submit("user_management.register", request)
        after = Snapshot(documents_of(harness.services.db))
    finally:
        harness.close()
    new = added(before, after)
    kept = Snapshot({n: d for n, d in new.documents.items() if n in USER_COLLECTIONS})
    return template_of("user", kept, [SEED_NAME], str(run.body["user_id"]))
