"""Typed records to MongoDB documents and back: the record's id field becomes ``_id``."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

R = TypeVar("R", bound=BaseModel)


def to_document(record: BaseModel, id_field: str = "id") -> dict[str, Any]:
    data = record.model_dump()
    return {"_id": data.pop(id_field), **data}


def from_document(kind: type[R], document: dict[str, Any], id_field: str = "id") -> R:
    data = dict(document)
    data[id_field] = data.pop("_id")
    return kind.model_validate(data)
