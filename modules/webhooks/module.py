"""Webhooks: users subscribe their own HTTP endpoints to events; each matching event is
delivered to each endpoint, signed as Standard Webhooks says, and tried again on a
schedule until it succeeds or the tries run out.

What is pure lives here: which events a caller may subscribe to, which endpoints an
event goes to, the body a delivery sends, when the next try is due and when an endpoint
has failed long enough to be disabled. The orchestrator does the I/O around it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import BaseModel

from events import WILDCARD, EventSpec, Forbidden, InvalidInput, NotFound, Received
from events.paging import Page, PageQuery
from modules.base import BaseModule
from modules.declarations import ADMIN_ROLE, Hook, Index, Job, Permission, Route, RouteMode
from modules.webhooks.models import (
    CreateEndpointRequest,
    DeliveriesQuery,
    Delivery,
    DeliveryInfo,
    DeliveryJob,
    DeliveryRef,
    DeliveryState,
    Endpoint,
    EndpointCreated,
    EndpointDeleted,
    EndpointDisabled,
    EndpointInfo,
    EndpointRef,
    Recovered,
    RecoverRequest,
    RotateSecretRequest,
    SecretRotated,
    UpdateEndpointRequest,
)
from modules.webhooks.settings import DECLARED, WebhookSettings

MANAGE = "webhooks:manage"
MANAGE_ANY = "webhooks:manage_any"
DISABLED_EVENT = "webhook_endpoint_disabled"
DELIVER_JOB = "deliver"
# After every other hook: a delivery tells of an event whose effects are stored.
PRIORITY = 900
_ENDPOINT_NAMESPACE = uuid.UUID("0c3c2f6e-8a41-4b7e-9f2d-5b8e1a7c4d90")
_ENDPOINTS = "/webhooks/endpoints"
_ONE = "/webhooks/endpoints/{endpoint_id}"


def _command(method: str, path: str, handler: str, request: type, summary: str) -> Route:
    return Route(
        method,
        path,
        handler,
        request=request,
        permission=MANAGE,
        users_only=True,
        summary=summary,
    )


def _query(path: str, handler: str, request: type, response: type, summary: str) -> Route:
    return Route(
        "GET",
        path,
        handler,
        request=request,
        permission=MANAGE,
        users_only=True,
        mode=RouteMode.QUERY,
        response=response,
        summary=summary,
    )


def at(ms: int) -> datetime:
    """A stored time (Unix milliseconds) as the API shows it."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class WebhooksModule(BaseModule):
    name = "webhooks"
    description = (
        "Outbound webhooks: events delivered to your endpoints, signed per Standard Webhooks, "
        "tried again on a schedule."
    )
    # An admin's endpoint hears anyone while its owner is an admin: their roles are read.
    dependencies = ("user_management",)
    permissions = (
        Permission(MANAGE, description="Subscribe your endpoints to events about you"),
        Permission(
            MANAGE_ANY,
            roles=(ADMIN_ROLE,),
            description="Subscribe to any event and manage anyone's endpoints",
        ),
    )
    routes = (
        Route(
            "POST",
            _ENDPOINTS,
            "create_endpoint",
            request=CreateEndpointRequest,
            permission=MANAGE,
            users_only=True,
            success_status=201,
            response=EndpointCreated,
            summary="Subscribe an endpoint; the result shows its secret once",
        ),
        _query(_ENDPOINTS, "list_endpoints", PageQuery, Page, "Your endpoints, newest first"),
        _query(_ONE, "get_endpoint", EndpointRef, EndpointInfo, "One endpoint"),
        _command("PATCH", _ONE, "update_endpoint", UpdateEndpointRequest, "Change an endpoint"),
        _command("DELETE", _ONE, "delete_endpoint", EndpointRef, "Unsubscribe an endpoint"),
        _command(
            "POST",
            f"{_ONE}/rotate-secret",
            "rotate_secret",
            RotateSecretRequest,
            "A new secret, shown once; the old one keeps signing for a grace period",
        ),
        _command("POST", f"{_ONE}/enable", "enable_endpoint", EndpointRef, "Enable again"),
        _query(
            f"{_ONE}/deliveries",
            "list_deliveries",
            DeliveriesQuery,
            Page,
            "The endpoint's deliveries, newest first",
        ),
        _command(
            "POST",
            "/webhooks/deliveries/{delivery_id}/retry",
            "retry_delivery",
            DeliveryRef,
            "Try a finished delivery again",
        ),
        _command(
            "POST",
            f"{_ONE}/recover",
            "recover",
            RecoverRequest,
            "Send again every failed delivery made since a moment",
        ),
    )
    events = (
        EventSpec(
            DISABLED_EVENT,
            EndpointDisabled,
            "An endpoint failed every try for too long and was disabled.",
            subjects=("owner_id",),
        ),
    )
    hooks = (Hook(WILDCARD, "fan_out", priority=PRIORITY, context="outbound webhook deliveries"),)
    jobs = (Job(DELIVER_JOB, "deliver", DeliveryJob),)
    secrets = DECLARED
    indexes = (
        Index("endpoints", (("owner_id", 1), ("created_at", -1))),
        Index("endpoints", (("events", 1),)),
        Index("deliveries", (("endpoint_id", 1), ("created_ms", -1))),
        Index("deliveries", (("state", 1), ("due_ms", 1))),
        Index("attempts", (("delivery_id", 1),)),
    )

    def __init__(self) -> None:
        super().__init__()
        self.settings = WebhookSettings.parse({})

    def initialize(self, secrets: Mapping[str, str]) -> None:
        super().initialize(secrets)
        self.settings = WebhookSettings.parse(secrets)

    # -- subscriptions ----------------------------------------------------------------------

    @staticmethod
    def endpoint_id_for(command_id: str) -> str:
        """An endpoint's id derives from its creating command: a redelivery finds it."""
        return f"ep_{uuid.uuid5(_ENDPOINT_NAMESPACE, command_id).hex}"

    @staticmethod
    def check_events(
        requested: tuple[str, ...], catalogue: Mapping[str, EventSpec], any_event: bool
    ) -> tuple[str, ...]:
        """The events asked for, if each exists and the caller may hear it: a user hears
        only events about users (about them, when delivered); a holder of
        ``webhooks:manage_any`` any event."""
        for name in requested:
            if name == WILDCARD:
                continue
            spec = catalogue.get(name)
            if spec is None:
                raise InvalidInput(f"events: unknown event {name!r}", field="events")
            if not any_event and not spec.subjects:
                raise Forbidden(
                    f"events: {name!r} is about no user in particular; only admins subscribe",
                    field="events",
                )
        return tuple(dict.fromkeys(requested))

    @staticmethod
    def may_manage(endpoint: Endpoint | None, user_id: str | None, any_user: bool) -> Endpoint:
        """``endpoint`` if the caller may see and change it; 404 otherwise (whether it
        exists is nobody else's business)."""
        if endpoint is None or endpoint.deleted_ms is not None:
            raise NotFound("no such webhook endpoint", field="endpoint_id")
        if not any_user and endpoint.owner_id != user_id:
            raise NotFound("no such webhook endpoint", field="endpoint_id")
        return endpoint

    @staticmethod
    def hears(
        endpoint: Endpoint, event: str, subjects: frozenset[str], owner_hears_anyone: bool
    ) -> bool:
        """Whether ``event``, about ``subjects``, goes to ``endpoint``. An endpoint created
        to hear anyone does so while its owner still holds ``webhooks:manage_any``
        (``owner_hears_anyone``); else it hears only events about its owner."""
        if not endpoint.enabled or endpoint.deleted_ms is not None:
            return False
        if event not in endpoint.events and WILDCARD not in endpoint.events:
            return False
        return (endpoint.any_user and owner_hears_anyone) or endpoint.owner_id in subjects

    # -- deliveries -------------------------------------------------------------------------

    @staticmethod
    def delivery_for(
        event: Received[BaseModel], endpoint_id: str, delivery_id: str, now: datetime, due: float
    ) -> Delivery:
        envelope = event.envelope
        return Delivery(
            id=delivery_id,
            endpoint_id=endpoint_id,
            event=envelope.name,
            event_id=envelope.id,
            command_id=envelope.command_id,
            correlation_id=envelope.correlation_id,
            occurred_at=envelope.occurred_at,
            data=envelope.payload,
            state=DeliveryState.QUEUED,
            due_ms=millis(now) + int(due * 1000),
            created_at=now,
            created_ms=millis(now),
        )

    @staticmethod
    def body(delivery: Delivery) -> bytes:
        """What every try of ``delivery`` sends: the same bytes each time."""
        document = {
            "type": delivery.event,
            "timestamp": delivery.occurred_at.isoformat().replace("+00:00", "Z"),
            "data": delivery.data,
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()

    def next_try(self, attempts_made: int) -> float | None:
        """Seconds until the next try after ``attempts_made`` failed; None: no tries left."""
        return self.settings.delay_before(attempts_made + 1)

    def should_disable(self, failing_since_ms: int, now_ms: int) -> bool:
        return (now_ms - failing_since_ms) / 1000 >= self.settings.disable_after_s

    @staticmethod
    def disabled_event(endpoint: Endpoint, failing_since_ms: int) -> EndpointDisabled:
        return EndpointDisabled(
            endpoint_id=endpoint.id,
            owner_id=endpoint.owner_id,
            url=endpoint.url,
            failing_since=at(failing_since_ms),
            reason="every try failed since then",
        )

    # -- views ------------------------------------------------------------------------------

    @staticmethod
    def created(endpoint: Endpoint, secret: str) -> EndpointCreated:
        return EndpointCreated(
            endpoint_id=endpoint.id,
            url=endpoint.url,
            events=endpoint.events,
            description=endpoint.description,
            secret=secret,
            created_at=at(endpoint.created_ms),
        )

    @staticmethod
    def rotated(endpoint_id: str, secret: str, previous_expires_ms: int) -> SecretRotated:
        return SecretRotated(
            endpoint_id=endpoint_id, secret=secret, previous_expires_at=at(previous_expires_ms)
        )

    @staticmethod
    def info(endpoint: Endpoint, now_ms: int) -> EndpointInfo:
        previous = endpoint.previous_expires_ms
        failing = endpoint.failing_since_ms
        return EndpointInfo(
            endpoint_id=endpoint.id,
            url=endpoint.url,
            events=endpoint.events,
            description=endpoint.description,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            failing_since=None if failing is None else at(failing),
            secrets_active=2 if previous is not None and previous > now_ms else 1,
            created_at=at(endpoint.created_ms),
        )

    @staticmethod
    def delivery_info(delivery: Delivery) -> DeliveryInfo:
        pending = delivery.state is DeliveryState.PENDING
        return DeliveryInfo(
            delivery_id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            event=delivery.event,
            event_id=delivery.event_id,
            state=delivery.state,
            attempts=delivery.attempts,
            total_attempts=delivery.total_attempts,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            last_attempt_at=None
            if delivery.last_attempt_ms is None
            else at(delivery.last_attempt_ms),
            next_try_at=at(delivery.due_ms) if pending else None,
            created_at=delivery.created_at,
        )

    @staticmethod
    def deleted(endpoint_id: str) -> EndpointDeleted:
        return EndpointDeleted(endpoint_id=endpoint_id)

    @staticmethod
    def recovered(endpoint_id: str, count: int) -> Recovered:
        return Recovered(endpoint_id=endpoint_id, recovered=count)

    @staticmethod
    def missing_delivery() -> NotFound:
        return NotFound("no such webhook delivery", field="delivery_id")
