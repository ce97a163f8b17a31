"""Hooks take their event's model: the handler's signature is checked at registration, and
the handler gets the payload validated, as that model."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from pydantic import BaseModel

from events import (
    WILDCARD,
    Event,
    EventCatalogue,
    EventSink,
    EventSpec,
    HookRegistry,
    HookSink,
    Received,
)
from events.catalogue import InvalidEvent
from events.errors import RegistrationError
from modules import BaseModule, Hook
from workers.orchestrator import Orchestrator as WorkerOrchestrator
from workers.services import WorkerServices


class Shipped(BaseModel):
    order_id: str
    count: int


class Refunded(BaseModel):
    order_id: str


class Orchestrator:
    """Handlers as an orchestrator defines them: bound methods."""

    def __init__(self) -> None:
        self.got: list[Received[BaseModel]] = []

    def on_shipped(self, event: Received[Shipped], sink: EventSink) -> None:
        self.got.append(event)

    def on_either(self, event: Received[Shipped | Refunded], sink: EventSink) -> None:
        self.got.append(event)

    def on_any(self, event: Received[BaseModel], sink: EventSink) -> None:
        self.got.append(event)

    def wrong_model(self, event: Received[Refunded], sink: EventSink) -> None: ...

    def unannotated(self, event, sink):  # type: ignore[no-untyped-def]
        ...

    def plain_event(self, event: Event, sink: EventSink) -> None: ...

    def one_argument(self, event: Received[Shipped]) -> None: ...

    def three_arguments(self, event: Received[Shipped], sink: EventSink, extra: int) -> None: ...


@pytest.fixture
def registry() -> HookRegistry:
    return HookRegistry(
        EventCatalogue((EventSpec("order_shipped", Shipped), EventSpec("order_refunded", Refunded)))
    )


def register(registry: HookRegistry, event: str, handler: Any, name: str) -> None:
    registry.register(event, handler, module="shop", handler_name=name)


@pytest.mark.parametrize(
    ("handler", "reason"),
    [
        ("wrong_model", r"takes Received\[Refunded\], but the event's payload is Shipped"),
        ("unannotated", r"must be annotated Received\[Shipped\], not nothing"),
        ("plain_event", r"must be annotated Received\[Shipped\], not <class .*Event'>"),
        ("one_argument", r"must take \(event, sink\)"),
        ("three_arguments", r"must take \(event, sink\)"),
    ],
)
def test_a_handler_that_does_not_take_the_events_model_is_refused(
    registry: HookRegistry, handler: str, reason: str
) -> None:
    """Wrong model, no annotation, a bare envelope or the wrong arity: registration stops,
    naming the module, the handler and the event."""
    with pytest.raises(
        RegistrationError, match=rf"hook shop\.{handler} for 'order_shipped': .*{reason}"
    ):
        register(registry, "order_shipped", getattr(Orchestrator(), handler), handler)


def test_a_wildcard_handler_must_take_any_model(registry: HookRegistry) -> None:
    """A ``*`` hook gets every event, so a handler for one model is refused there."""
    with pytest.raises(RegistrationError, match=r"hook shop\.on_shipped for '\*'.*BaseModel"):
        register(registry, WILDCARD, Orchestrator().on_shipped, "on_shipped")


def test_a_union_covers_each_of_its_events(registry: HookRegistry) -> None:
    """One handler may serve several events, annotated with the union of their models."""
    orchestrator = Orchestrator()
    register(registry, "order_shipped", orchestrator.on_either, "on_either")
    register(registry, "order_refunded", orchestrator.on_either, "on_either")
    with pytest.raises(RegistrationError, match="takes Received\\[Shipped \\| Refunded\\]"):
        HookRegistry(EventCatalogue((EventSpec("other", _Other),))).register(
            "other", orchestrator.on_either, module="shop", handler_name="on_either"
        )


class _Other(BaseModel):
    x: int = 0


def _event(name: str, payload: dict[str, Any]) -> Event:
    return Event(
        id="e1", name=name, payload=payload, correlation_id="c", causation_id="c", command_id="c"
    )


def test_a_hook_receives_the_validated_model(registry: HookRegistry) -> None:
    """The handler gets the payload as the event's model (coerced by it), with the envelope;
    a wildcard handler gets the same event's own model."""
    orchestrator = Orchestrator()
    register(registry, "order_shipped", orchestrator.on_shipped, "on_shipped")
    register(registry, WILDCARD, orchestrator.on_any, "on_any")
    event = _event("order_shipped", {"order_id": "o1", "count": "3"})
    registry.dispatch(event, object())  # type: ignore[arg-type]
    typed, wild = orchestrator.got
    assert typed.payload == Shipped(order_id="o1", count=3) == wild.payload
    assert isinstance(wild.payload, Shipped)
    assert (typed.id, typed.name, typed.envelope) == ("e1", "order_shipped", event)


def test_an_event_its_model_refuses_reaches_no_hook(registry: HookRegistry) -> None:
    """A payload that does not validate raises before any handler runs."""
    orchestrator = Orchestrator()
    register(registry, "order_shipped", orchestrator.on_shipped, "on_shipped")
    with pytest.raises(InvalidEvent, match=r"(?s)order_shipped.*count"):
        registry.dispatch(_event("order_shipped", {"order_id": "o1"}), object())  # type: ignore[arg-type]
    assert orchestrator.got == []


class Shop(BaseModule):
    name = "shop"
    events = (EventSpec("order_shipped", Shipped),)
    hooks = (Hook("order_shipped", "on_shipped"),)


class MistypedShop(WorkerOrchestrator[Shop]):
    module_class = Shop

    def on_shipped(self, event: Received[Refunded], sink: HookSink) -> None: ...


def test_an_orchestrator_with_a_mistyped_hook_stops_startup() -> None:
    """The worker registers each orchestrator's hooks with the same check, at start-up."""
    services = cast(WorkerServices, SimpleNamespace(state=None, read_models=None))
    orchestrator = MistypedShop(Shop(), services)
    registry = HookRegistry(EventCatalogue(Shop.events))
    with pytest.raises(
        RegistrationError, match=r"hook shop\.on_shipped for 'order_shipped'.*Refunded.*Shipped"
    ):
        orchestrator.register_hooks(registry)
