"""Typed records to MongoDB documents and back: the record's id field becomes ``_id``."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

R = TypeVar("R", bound=BaseModel)


def to_document(record: BaseModel, id_field: str = "id") -> dict[str, Any]:
    data = record.model_dump()
    return {"_id": data.pop(id_field), **data}


def from_document(kind: type[R], document: dict[str, Any], id_field: str = "id") -> R:
    data = dict(document)
    data[id_field] = data.pop("_id")
    return kind.model_validate(data)


def insert_once(collection: Collection[dict[str, Any]], record: R, id_field: str = "id") -> R:
    """Insert ``record``; if one with its id is stored already (an earlier try of the same
    run), that one, as stored: a second try changes nothing and answers what the first did."""
    try:
        collection.insert_one(to_document(record, id_field))
    except DuplicateKeyError:
        stored = collection.find_one({"_id": getattr(record, id_field)})
        if stored is not None:
            return from_document(type(record), stored, id_field)
    return record
