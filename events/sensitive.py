"""Sensitivity, declared once: the marker on every field that holds a credential.

A request or result model marks its passwords, tokens and keys with
``Credential`` (or ``Annotated[..., SENSITIVE]``). Everything else reads the
marker rather than guessing from names: the gateway seals those fields of a
command before it goes on the bus, a worker seals them in a result before it
goes to Redis, the gateway hands a sealed result over once, OpenAPI shows
them as ``format: password`` (``writeOnly`` in requests), and a model's
``repr`` leaves them out.

Only top-level fields of a route's request and response models may be
sensitive (a nested one is refused when the route is declared), and no event
payload may hold one: events go to every hook and into dead letters, so they
carry a reference to a credential, never the credential.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, Field, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from events.errors import RegistrationError


@dataclass(frozen=True)
class Sensitive:
    """The marker. In JSON Schema: ``format: password``, and ``writeOnly`` for requests."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update({"format": "password", "x-hookline-sensitive": True})
        if handler.mode == "validation":
            schema["writeOnly"] = True
        return schema


SENSITIVE = Sensitive()
# A credential held as text: sealed on the bus and at rest, left out of reprs.
Credential = Annotated[str, SENSITIVE, Field(repr=False)]


@functools.cache
def sensitive_fields(model: type[BaseModel]) -> frozenset[str]:
    """The names of ``model``'s fields that carry the marker (by their serialized alias)."""
    return frozenset(
        info.serialization_alias or info.alias or name
        for name, info in model.model_fields.items()
        if any(isinstance(item, Sensitive) for item in info.metadata)
    )


def split_sensitive(
    model: type[BaseModel], data: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``data`` (the model dumped as JSON) as its plain part and its sensitive part."""
    return split_fields(data, sensitive_fields(model))


def split_fields(
    data: dict[str, Any], names: frozenset[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``data`` as the fields not in ``names`` and those in ``names``."""
    if not names & data.keys():
        return data, {}
    plain = {k: v for k, v in data.items() if k not in names}
    secret = {k: v for k, v in data.items() if k in names}
    return plain, secret


def check_no_nested_sensitive(model: type[BaseModel], where: str) -> None:
    """Refuse sensitive fields anywhere but at the top level of ``model``."""
    for name, inner in _nested_models(model):
        if sensitive_fields(inner) or _has_nested_sensitive(inner):
            raise RegistrationError(
                f"{where}: field {name!r} nests sensitive fields of {inner.__name__}; "
                "declare credentials as top-level fields of the request or result"
            )


def check_not_sensitive(model: type[BaseModel], where: str) -> None:
    """Refuse a model (an event payload) that holds a credential at any depth."""
    if sensitive_fields(model) or _has_nested_sensitive(model):
        raise RegistrationError(
            f"{where}: {model.__name__} holds a sensitive field; events reach every hook "
            "and dead letters, so carry a reference to a credential, never the credential"
        )


def _has_nested_sensitive(model: type[BaseModel]) -> bool:
    return any(
        sensitive_fields(inner) or _has_nested_sensitive(inner)
        for _, inner in _nested_models(model)
    )


def _nested_models(model: type[BaseModel]) -> list[tuple[str, type[BaseModel]]]:
    found: list[tuple[str, type[BaseModel]]] = []
    for name, info in model.model_fields.items():
        found.extend((name, inner) for inner in _models_in(info.annotation))
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]
