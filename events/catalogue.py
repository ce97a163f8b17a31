"""The event catalogue: every event name Hookline knows, with its payload model."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from events.envelopes import Event
from events.errors import RegistrationError
from events.sensitive import check_not_sensitive

WILDCARD = "*"


class InvalidEvent(ValueError):
    """An event on the bus whose payload its model refuses: its hooks cannot run on it."""


@dataclass(frozen=True)
class EventSpec:
    """An event a module emits: its name, the model its payload follows, and who emits it."""

    name: str
    payload: type[BaseModel]
    description: str = ""
    emitted_by: str = ""

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum() or not self.name.islower():
            raise RegistrationError(
                f"event name {self.name!r} must be lower_snake_case letters and digits"
            )
        check_not_sensitive(self.payload, f"event {self.name!r}")


class EventCatalogue(Mapping[str, EventSpec]):
    """Event name → spec; an event is declared once, by one module."""

    def __init__(self, specs: tuple[EventSpec, ...] = ()) -> None:
        self._specs: dict[str, EventSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: EventSpec) -> None:
        known = self._specs.get(spec.name)
        if known is not None and known != spec:
            raise RegistrationError(
                f"event {spec.name!r} is declared by both {known.emitted_by!r} "
                f"and {spec.emitted_by!r}"
            )
        self._specs[spec.name] = spec

    def validate_payload(self, name: str, payload: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
        """Check ``payload`` against the event's model and return it as JSON-ready data."""
        spec = self._specs.get(name)
        if spec is None:
            raise RegistrationError(f"event {name!r} is not in the catalogue")
        try:
            model = spec.payload.model_validate(
                payload.model_dump() if isinstance(payload, BaseModel) else payload
            )
        except ValidationError as e:
            raise RegistrationError(f"payload of event {name!r} is invalid: {e}") from e
        return model.model_dump(mode="json")

    def payload_of(self, event: Event) -> BaseModel:
        """The payload of ``event`` as its model, validated: what its hooks receive."""
        spec = self._specs.get(event.name)
        if spec is None:
            raise RegistrationError(f"event {event.name!r} is not in the catalogue")
        try:
            return spec.payload.model_validate(event.payload)
        except ValidationError as e:
            raise InvalidEvent(
                f"payload of event {event.name!r} ({event.id}) is invalid: {e}"
            ) from e

    def __getitem__(self, name: str) -> EventSpec:
        return self._specs[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)
