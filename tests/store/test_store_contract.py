"""The store contract: every query and update shape Hookline sends to MongoDB.

Runs against whatever ``MONGO_URL`` names (real MongoDB in docker-compose),
else the embedded MongoDB-protocol server, so both are held to one behaviour.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

Doc = dict[str, Any]


@pytest.fixture
def users(mongo_db: Database[Doc]) -> Collection[Doc]:
    collection = mongo_db["user_management_users"]
    collection.create_index([("email", 1)], unique=True)
    collection.create_index([("username", 1)], unique=True)
    return collection


def test_unique_index_refuses_a_second_document(users: Collection[Doc]) -> None:
    """A unique index turns a clash into DuplicateKeyError and keeps the first document."""
    users.insert_one({"_id": "u1", "email": "a@x.io", "username": "a"})
    with pytest.raises(DuplicateKeyError):
        users.insert_one({"_id": "u2", "email": "a@x.io", "username": "b"})
    with pytest.raises(DuplicateKeyError):
        users.insert_one({"_id": "u3", "email": "c@x.io", "username": "a"})
    assert users.count_documents({}) == 1


def test_duplicate_id_is_a_duplicate_key_error(users: Collection[Doc]) -> None:
    """Inserting the same _id twice (a replayed insert) raises DuplicateKeyError."""
    users.insert_one({"_id": "u1", "email": "a@x.io", "username": "a"})
    with pytest.raises(DuplicateKeyError):
        users.insert_one({"_id": "u1", "email": "z@x.io", "username": "z"})


def test_find_one_by_id_field_and_or(users: Collection[Doc]) -> None:
    """find_one by _id, by a field, and by $or of two fields; None when nothing matches."""
    users.insert_many(
        [
            {"_id": "u1", "email": "a@x.io", "username": "a"},
            {"_id": "u2", "email": "b@x.io", "username": "b"},
        ]
    )
    assert users.find_one({"_id": "u2"})["email"] == "b@x.io"  # type: ignore[index]
    assert users.find_one({"email": "a@x.io"})["_id"] == "u1"  # type: ignore[index]
    clash = users.find_one({"$or": [{"email": "nobody@x.io"}, {"username": "b"}]})
    assert clash is not None and clash["_id"] == "u2"
    assert users.find_one({"_id": "missing"}) is None


def test_find_by_a_missing_field_then_set_it(users: Collection[Doc]) -> None:
    """{field: {$exists: false}} finds the records without it; $set gives it to one (the
    user keys a worker backfills at start)."""
    users.insert_many(
        [
            {"_id": "u1", "email": "a@x.io", "username": "a"},
            {"_id": "u2", "email": "b@x.io", "username": "b", "email_key": "b@x.io"},
        ]
    )
    assert [d["_id"] for d in users.find({"email_key": {"$exists": False}})] == ["u1"]
    users.update_one({"_id": "u1"}, {"$set": {"email_key": "a@x.io"}})
    assert users.count_documents({"email_key": {"$exists": False}}) == 0


def test_projection_to_id_only(mongo_db: Database[Doc]) -> None:
    """A projection of {_id: 1} returns the id alone; of {run: 1}, the id and that field
    (the hook-run ledger's completion check)."""
    runs = mongo_db["hookline_hook_runs"]
    runs.insert_one({"_id": "e1/audit.record", "at": "now", "run": {"status": "succeeded"}})
    assert runs.find_one({"_id": "e1/audit.record"}, {"_id": 1}) == {"_id": "e1/audit.record"}
    assert runs.find_one({"_id": "e1/audit.record"}, {"run": 1}) == {
        "_id": "e1/audit.record",
        "run": {"status": "succeeded"},
    }


def test_replace_one_upsert_is_idempotent(mongo_db: Database[Doc]) -> None:
    """replace_one with upsert inserts once, then rewrites the same document."""
    events = mongo_db["audit_events"]
    for _ in range(2):
        events.replace_one({"_id": "e1"}, {"_id": "e1", "event": "user_created"}, upsert=True)
    assert list(events.find({})) == [{"_id": "e1", "event": "user_created"}]


def test_datetimes_round_trip_timezone_aware(mongo_db: Database[Doc]) -> None:
    """Datetimes come back aware and in UTC, to the millisecond."""
    from datetime import UTC, datetime

    when = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    mongo_db["t"].insert_one({"_id": 1, "at": when})
    assert mongo_db["t"].find_one({"_id": 1})["at"] == when  # type: ignore[index]
