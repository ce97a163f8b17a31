"""The event catalogue: every event name Hookline knows, with its payload model and version.

An event's payload may change between deploys. During a rolling deploy the
queue still holds events an older worker emitted, so a spec that raises its
``version`` to N must carry an upcaster for every older version, 1 to N-1: a
pure function from the payload dict of version k to that of version k+1. The
envelope carries the version its emitter wrote (``Event.version``, 1 when an
older envelope has none), and a worker upcasts an older payload step by step
before validating it against the current model. A spec missing an upcaster is
refused when it is declared, so the change cannot ship.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from events.envelopes import Event
from events.errors import RegistrationError
from events.sensitive import check_not_sensitive

WILDCARD = "*"


class InvalidEvent(ValueError):
    """An event on the bus whose payload its model refuses: its hooks cannot run on it."""


# From the payload of version k (the key it is declared under) to that of version k + 1.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class EventSpec:
    """An event a module emits: its name, the model its payload follows, and who emits it.

    ``version`` is the version of ``payload``; ``upcasters[k]`` turns a version-k payload
    into a version-(k+1) one, for every k from 1 to ``version - 1``. ``subjects`` names the
    payload's fields that hold the ids of the users the event is about (a wallet's owner,
    both sides of a transfer): those users may subscribe to it (outbound webhooks); an
    event with none is about nobody in particular, and only admins may.
    """

    name: str
    payload: type[BaseModel]
    description: str = ""
    emitted_by: str = ""
    version: int = 1
    upcasters: Mapping[int, Upcaster] = field(default_factory=dict, compare=False)
    subjects: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("_", "").isalnum() or not self.name.islower():
            raise RegistrationError(
                f"event name {self.name!r} must be lower_snake_case letters and digits"
            )
        check_not_sensitive(self.payload, f"event {self.name!r}")
        self._check_versions()
        self._check_subjects()

    def _check_subjects(self) -> None:
        fields = self.payload.model_fields
        for name in self.subjects:
            found = fields.get(name)
            if found is None or found.annotation not in (str, str | None):
                raise RegistrationError(
                    f"event {self.name!r}: subject {name!r} is not a text field of "
                    f"{self.payload.__name__}"
                )

    def subjects_of(self, payload: Mapping[str, Any]) -> frozenset[str]:
        """The ids of the users an event with ``payload`` is about."""
        return frozenset(str(payload[n]) for n in self.subjects if payload.get(n))

    def _check_versions(self) -> None:
        where = f"event {self.name!r}"
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise RegistrationError(
                f"{where}: version must be an integer >= 1, got {self.version!r}"
            )
        missing = [k for k in range(1, self.version) if k not in self.upcasters]
        if missing:
            steps = ", ".join(f"{k} -> {k + 1}" for k in missing)
            raise RegistrationError(
                f"{where} is version {self.version} but has no upcaster for {steps}: "
                "events of those versions still queued could not be handled"
            )
        extra = sorted(set(self.upcasters) - set(range(1, self.version)), key=repr)
        if extra:
            raise RegistrationError(
                f"{where} is version {self.version}: upcasters {extra} upgrade no older version"
            )
        for k, upcaster in self.upcasters.items():
            if not callable(upcaster):
                raise RegistrationError(f"{where}: upcaster {k} -> {k + 1} is not callable")

    def upcast(self, version: int, payload: Mapping[str, Any]) -> dict[str, Any]:
        """``payload``, written at ``version``, upgraded to this spec's version."""
        if version > self.version:
            raise InvalidEvent(
                f"event {self.name!r} is version {version}; this worker knows up to "
                f"version {self.version}"
            )
        data = dict(payload)
        for k in range(version, self.version):
            try:
                data = self.upcasters[k](data)
            except Exception as e:  # a module's function on a payload from the bus
                raise InvalidEvent(
                    f"event {self.name!r}: upcaster {k} -> {k + 1} failed: {e!r}"
                ) from e
        return data


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
            return spec.payload.model_validate(spec.upcast(event.version, event.payload))
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
