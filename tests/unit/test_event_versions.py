"""Versioned events: a spec above version 1 carries its upcasters, and older payloads are
upcast before a hook sees them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from events import Event, EventCatalogue, EventSink, EventSpec, HookRegistry, Received
from events.catalogue import InvalidEvent
from events.errors import RegistrationError
from modules import BaseModule
from workers.context import Emitter


class ParcelV3(BaseModel):
    parcel_id: str
    weight_g: int
    carrier: str


def grams(p: dict[str, Any]) -> dict[str, Any]:
    """Version 1 weighed in kilograms; version 2 in grams."""
    return {"parcel_id": p["parcel_id"], "weight_g": p["weight_kg"] * 1000}


def carrier(p: dict[str, Any]) -> dict[str, Any]:
    """Version 3 names the carrier; what came before went by post."""
    return {**p, "carrier": "post"}


SPEC = EventSpec("parcel_sent", ParcelV3, version=3, upcasters={1: grams, 2: carrier})


def test_a_spec_is_version_1_unless_it_says_otherwise() -> None:
    """No version declared: version 1, and no upcaster needed; envelopes default to 1 too."""
    assert EventSpec("parcel_sent", ParcelV3).version == 1
    assert (
        Event(id="e", name="n", correlation_id="c", causation_id="c", command_id="c").version == 1
    )


@pytest.mark.parametrize(
    ("upcasters", "reason"),
    [
        ({}, r"is version 3 but has no upcaster for 1 -> 2, 2 -> 3"),
        ({1: grams}, r"is version 3 but has no upcaster for 2 -> 3"),
        ({2: carrier}, r"is version 3 but has no upcaster for 1 -> 2"),
        ({1: grams, 2: carrier, 3: carrier}, r"upcasters \[3\] upgrade no older version"),
        ({1: grams, 2: "carrier"}, r"upcaster 2 -> 3 is not callable"),
    ],
)
def test_a_version_without_its_upcasters_is_refused(upcasters: dict[int, Any], reason: str) -> None:
    """Version N needs an upcaster from each of 1..N-1, and nothing else."""
    with pytest.raises(RegistrationError, match=rf"event 'parcel_sent'.*{reason}"):
        EventSpec("parcel_sent", ParcelV3, version=3, upcasters=upcasters)


@pytest.mark.parametrize("version", [0, -1, True, "2"])
def test_a_version_is_a_positive_integer(version: Any) -> None:
    with pytest.raises(RegistrationError, match="version must be an integer >= 1"):
        EventSpec("parcel_sent", ParcelV3, version=version)


def test_the_check_runs_when_a_module_declares_the_event() -> None:
    """Raising a version without an upcaster fails when the module class is defined."""
    with pytest.raises(RegistrationError, match="no upcaster for 1 -> 2"):

        class Parcels(BaseModule):
            name = "parcels"
            events = (EventSpec("parcel_sent", ParcelV3, version=2),)


def _event(version: int, payload: dict[str, Any]) -> Event:
    return Event(
        id=f"e{version}",
        name="parcel_sent",
        payload=payload,
        version=version,
        correlation_id="c",
        causation_id="c",
        command_id="c",
    )


def test_older_payloads_are_upcast_step_by_step_before_the_hook() -> None:
    """A version-1 and a version-2 event still queued reach a version-3 hook as ParcelV3."""
    got: list[ParcelV3] = []

    def on_sent(event: Received[ParcelV3], sink: EventSink) -> None:
        got.append(event.payload)

    registry = HookRegistry(EventCatalogue((SPEC,)))
    registry.register("parcel_sent", on_sent, module="m", handler_name="on_sent")
    for event in (
        _event(1, {"parcel_id": "p1", "weight_kg": 2}),
        _event(2, {"parcel_id": "p2", "weight_g": 300}),
        _event(3, {"parcel_id": "p3", "weight_g": 5, "carrier": "van"}),
    ):
        registry.dispatch(event, object())  # type: ignore[arg-type]
    assert got == [
        ParcelV3(parcel_id="p1", weight_g=2000, carrier="post"),
        ParcelV3(parcel_id="p2", weight_g=300, carrier="post"),
        ParcelV3(parcel_id="p3", weight_g=5, carrier="van"),
    ]


def test_an_event_newer_than_the_worker_is_refused() -> None:
    """An old worker cannot downcast: a version it does not know fails the hook's try."""
    with pytest.raises(InvalidEvent, match="version 4; this worker knows up to version 3"):
        EventCatalogue((SPEC,)).payload_of(_event(4, {}))


def test_an_upcaster_that_fails_names_the_event_and_the_step() -> None:
    """A version-1 payload the upcaster cannot read fails with the step it failed at."""
    with pytest.raises(InvalidEvent, match=r"'parcel_sent': upcaster 1 -> 2 failed: KeyError"):
        EventCatalogue((SPEC,)).payload_of(_event(1, {"parcel_id": "p"}))


def test_emitted_events_carry_their_specs_version() -> None:
    """A worker stamps the version of its declaration on the envelopes it emits."""
    emitter = Emitter(EventCatalogue((SPEC,)), "cause", "corr", "cmd", depth=1, max_depth=8)
    event = emitter.emit("parcel_sent", ParcelV3(parcel_id="p", weight_g=1, carrier="van"))
    assert event.version == 3
    assert Event.model_validate(event.model_dump(mode="json")).version == 3
