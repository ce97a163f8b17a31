"""JSON Schemas for API documents: pydantic models collected as named components."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

Mode = Literal["validation", "serialization"]


class SchemaSet:
    """Named component schemas; a model added twice is one component."""

    def __init__(self, ref_prefix: str) -> None:
        self._prefix = ref_prefix
        self.components: dict[str, dict[str, Any]] = {}
        self._owners: dict[str, tuple[type[BaseModel], Mode]] = {}

    def ref(self, model: type[BaseModel], mode: Mode = "validation") -> dict[str, str]:
        """A ``$ref`` to ``model``'s schema, adding it (and the models it nests) if new."""
        schema = model.model_json_schema(mode=mode, ref_template=self._prefix + "{model}")
        nested: dict[str, dict[str, Any]] = schema.pop("$defs", {})
        for name, sub in nested.items():
            self.components.setdefault(name, sub)
        name = self._name_for(model, mode, schema)
        return {"$ref": self._prefix + name}

    def _name_for(self, model: type[BaseModel], mode: Mode, schema: dict[str, Any]) -> str:
        """The model's own name, unless another model or mode already uses it differently."""
        for candidate in (model.__name__, f"{model.__name__}{mode.title()}", _qualified(model)):
            known = self.components.get(candidate)
            if known is None or known == schema:
                self.components[candidate] = schema
                self._owners.setdefault(candidate, (model, mode))
                return candidate
        raise ValueError(f"cannot name the schema of {_qualified(model)} ({mode})")


def _qualified(model: type[BaseModel]) -> str:
    return f"{model.__module__}.{model.__qualname__}".replace(".", "_")


def without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """``X | None`` as plain ``X``: a query parameter that may be null is one left out."""
    options = schema.get("anyOf")
    if not options:
        return schema
    kept = [option for option in options if option.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k not in ("anyOf", "default")}
    return {**rest, **kept[0]} if len(kept) == 1 else {**rest, "anyOf": kept}


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The OpenAPI query parameters of ``model``'s fields."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    return [
        {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": without_null(field),
            **({"description": field["description"]} if "description" in field else {}),
        }
        for name, field in schema.get("properties", {}).items()
    ]
