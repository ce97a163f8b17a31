"""Seeding for ``--scale``: ``size`` users and ``size`` commands, copies of their templates
(``bench.templates``), written straight into MongoDB and Redis.

What keeps it fast: documents go ``BATCH`` at a time with ``insert_many(ordered=False)``,
the next batch built while the last is written; each batch is one transaction where the
server runs them (nx-27017 then commits SQLite once per batch instead of once per
document); and the indexes are built after the documents, as the app's
``ensure_indexes`` builds them at start over whatever a collection holds. The Redis keys
go meanwhile, from a thread of their own (MongoDB's writes are the server's work, in its
process), in pipelines, each key with the TTL its template had.

On nx-27017 a document costs 0.05 to 0.2 ms of the server's time, by its size (it
deep-copies, walks and JSON-encodes each one and inserts it on its own): a command's
history summary, the biggest, about twenty times what building and encoding it costs
here. Seeding runs at the rate that server takes documents.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError

from bench.servers import BENCH_MONGO_DB, Servers
from bench.templates import Copies, Document, RedisKey
from core.history import COLLECTION as HISTORY
from core.history import HistoryStore
from core.settings import Settings
from modules import discover

BATCH = 2000
REDIS_BATCH = 500
_PROBE_COLLECTION = "bench_seed_probe"

Say = Callable[[str], None]
Writer = Callable[[Collection[Document], list[Document]], None]


@dataclass(frozen=True)
class Seeding:
    """How long seeding ``size`` of each took: MongoDB documents, their indexes, Redis keys
    (written meanwhile), and all of it (``wall_s``)."""

    size: int
    documents: int
    keys: int
    mongo_s: float
    indexes_s: float
    redis_s: float
    wall_s: float
    by_collection: dict[str, float]
    transactions: bool
    # What each collection holds afterwards (MongoDB's count), to check nothing was lost.
    stored: dict[str, int]

    @property
    def documents_per_s(self) -> float:
        return self.documents / self.mongo_s if self.mongo_s > 0 else float("nan")

    def projected_s(self, size: int) -> float:
        """The time ``size`` would take at this rate (linear: no slowdown assumed)."""
        return self.wall_s * size / self.size if self.size else float("nan")


@dataclass(frozen=True)
class _Documents:
    count: int
    by_collection: dict[str, float]
    indexes_s: float
    transactions: bool
    stored: dict[str, int]


def seed(servers: Servers, copies: Sequence[Copies], size: int, say: Say) -> Seeding:
    """MongoDB and Redis at once: the documents are nx-27017's work, in its own process,
    so the keys go into Redis meanwhile."""
    started = time.perf_counter()
    with ThreadPoolExecutor(1, thread_name_prefix="bench-seed-redis") as pool:
        keys = pool.submit(_seed_keys, servers.redis_url, copies, size)
        documents = seed_mongo(servers.mongo_url, copies, size, say)
        count, redis_s = keys.result()
    return Seeding(
        size=size,
        documents=documents.count,
        keys=count,
        mongo_s=sum(documents.by_collection.values()),
        indexes_s=documents.indexes_s,
        redis_s=redis_s,
        wall_s=time.perf_counter() - started,
        by_collection=documents.by_collection,
        transactions=documents.transactions,
        stored=documents.stored,
    )


def _seed_keys(redis_url: str, copies: Sequence[Copies], size: int) -> tuple[int, float]:
    client = redis.Redis.from_url(redis_url)
    started = time.perf_counter()
    try:
        return seed_redis(client, copies, size), time.perf_counter() - started
    finally:
        client.close()


# -- MongoDB --------------------------------------------------------------------------------


def seed_mongo(mongo_url: str, copies: Sequence[Copies], size: int, say: Say) -> _Documents:
    mongo: MongoClient[Document] = MongoClient(mongo_url, tz_aware=True)
    try:
        db = mongo[BENCH_MONGO_DB]
        write, transactions = choose_writer(mongo, db)
        by_collection: dict[str, float] = {}
        count = 0
        for copy in copies:
            for name in copy.template.documents:
                started = time.perf_counter()
                count += _insert(db[name], _batches(copy, name, size), write)
                by_collection[name] = time.perf_counter() - started
                say(f"    {name}: {size:,} units in {by_collection[name]:.1f} s")
        started = time.perf_counter()
        ensure_indexes(db, by_collection)
        indexes_s = time.perf_counter() - started
        stored = {name: db[name].estimated_document_count() for name in by_collection}
    finally:
        mongo.close()
    return _Documents(count, by_collection, indexes_s, transactions, stored)


def choose_writer(client: MongoClient[Document], db: Database[Document]) -> tuple[Writer, bool]:
    """One transaction per batch if the server runs transactions; else plain batches."""
    transactional = _in_transactions(client)
    try:
        transactional(db[_PROBE_COLLECTION], [{"_id": "probe"}])
    except PyMongoError:  # a standalone MongoDB: transactions need a replica set
        return _plain, False
    finally:
        db.drop_collection(_PROBE_COLLECTION)
    return transactional, True


def _plain(collection: Collection[Document], batch: list[Document]) -> None:
    collection.insert_many(batch, ordered=False)


def _in_transactions(client: MongoClient[Document]) -> Writer:
    def write(collection: Collection[Document], batch: list[Document]) -> None:
        with client.start_session() as session, session.start_transaction():
            collection.insert_many(batch, ordered=False, session=session)

    return write


def _batches(copies: Copies, collection: str, size: int) -> Iterator[list[Document]]:
    batch: list[Document] = []
    for number in range(size):
        batch.extend(copies.documents(collection, number))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(
    collection: Collection[Document], batches: Iterable[list[Document]], write: Writer
) -> int:
    """Write each batch on a thread of its own while the next one is built."""
    count = 0
    with ThreadPoolExecutor(1, thread_name_prefix="bench-seed") as pool:
        pending: Future[None] | None = None
        for batch in batches:
            if pending is not None:
                pending.result()
            pending = pool.submit(write, collection, batch)
            count += len(batch)
        if pending is not None:
            pending.result()
    return count


def ensure_indexes(db: Database[Document], collections: Iterable[str]) -> None:
    """The indexes the app builds at start (``HistoryStore.ensure_indexes``, the modules'
    declared ``indexes``), for the collections seeded."""
    seeded = set(collections)
    if HISTORY in seeded:
        HistoryStore(db, Settings().history_retention_s).ensure_indexes()
    for module_class in discover().values():
        for index in module_class.indexes:
            name = module_class.collection_name(index.collection)
            if name in seeded:
                db[name].create_index(list(index.keys), unique=index.unique)


# -- Redis ----------------------------------------------------------------------------------

_Pipeline = redis.client.Pipeline
_WRITERS: dict[str, Callable[[_Pipeline, RedisKey], Any]] = {
    "string": lambda p, k: p.set(k.name, k.value),
    "hash": lambda p, k: p.hset(k.name, mapping=k.value),
    "list": lambda p, k: p.rpush(k.name, *k.value),
    "set": lambda p, k: p.sadd(k.name, *k.value),
    "zset": lambda p, k: p.zadd(k.name, dict(k.value)),
}


def seed_redis(client: redis.Redis, copies: Sequence[Copies], size: int) -> int:
    """Every template key of every copy, ``REDIS_BATCH`` copies per pipeline."""
    count = 0
    for start in range(0, size, REDIS_BATCH):
        pipe = client.pipeline(transaction=False)
        for number in range(start, min(size, start + REDIS_BATCH)):
            for copy in copies:
                for key in copy.keys(number):
                    _queue(pipe, key)
                    count += 1
        pipe.execute()
    return count


def _queue(pipe: _Pipeline, key: RedisKey) -> None:
    _WRITERS[key.kind](pipe, key)
    if key.ttl_ms > 0:
        pipe.pexpire(key.name, key.ttl_ms)
