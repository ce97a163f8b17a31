"""Requests, records, views and event payloads of the webhooks module."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from events import Credential, Sealed
from events.paging import PageQuery

EndpointId = Annotated[str, StringConstraints(pattern=r"^ep_[0-9a-f]{32}$")]
# A delivery's id is its ``webhook-id``: one per event and endpoint, the same on every try.
DeliveryId = Annotated[str, StringConstraints(pattern=r"^msg_[0-9a-f]{32}$")]
EventName = Annotated[str, StringConstraints(pattern=r"^(\*|[a-z][a-z0-9_]{0,63})$")]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
EventNames = Annotated[tuple[EventName, ...], Field(min_length=1, max_length=64)]
# How long a rotated-out secret keeps signing beside the new one: up to a week.
GraceSeconds = Annotated[int, Field(ge=0, le=7 * 86400)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CreateEndpointRequest(_Request):
    url: Url
    events: EventNames = Field(description='event names, or "*" for every event you may see')
    description: Description = ""


class EndpointRef(_Request):
    endpoint_id: EndpointId


class UpdateEndpointRequest(EndpointRef):
    url: Url | None = None
    events: EventNames | None = None
    description: Description | None = None


class RotateSecretRequest(EndpointRef):
    grace_s: GraceSeconds | None = Field(
        None, description="how long the old secret keeps signing (default: the module's)"
    )


class RecoverRequest(EndpointRef):
    since: AwareDatetime = Field(description="RFC 3339: failed deliveries made since then")


class DeliveriesQuery(PageQuery):
    endpoint_id: EndpointId


class DeliveryRef(_Request):
    delivery_id: DeliveryId


class DeliveryJob(BaseModel):
    """The message that makes one try of one delivery."""

    model_config = ConfigDict(frozen=True)

    delivery_id: str


class DeliveryState(StrEnum):
    PENDING = "pending"  # waits for its next try (``due_ms``)
    QUEUED = "queued"  # its try is on the queue
    SENDING = "sending"  # a worker is trying it now
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # every try failed, or its endpoint went: a dead letter, retried by hand


class Endpoint(BaseModel):
    """A stored endpoint. Its secrets are sealed (``core.sealing``), bound to its id.

    Its times are Unix milliseconds: numbers, which every MongoDB-protocol server stores
    and compares alike when an update sets them (nx-27017 keeps a datetime given to
    ``$set`` on a stored document as text without its zone)."""

    model_config = ConfigDict(frozen=True)

    id: str
    owner_id: str
    # Created by a holder of ``webhooks:manage_any``: it may hear any event, about anyone.
    any_user: bool = False
    url: str
    events: tuple[str, ...]
    description: str = ""
    enabled: bool = True
    disabled_reason: str | None = None
    # Since when every try has failed (None after a success): disabled once too long.
    failing_since_ms: int | None = None
    secret: Sealed
    previous_secret: Sealed | None = None
    previous_expires_ms: int | None = None
    # The command that last rotated the secret: a redelivery of it rotates nothing more.
    rotated_by: str | None = None
    created_ms: int
    updated_ms: int
    deleted_ms: int | None = None


class Delivery(BaseModel):
    """One event to one endpoint, with the state of its tries."""

    model_config = ConfigDict(frozen=True)

    id: str
    endpoint_id: str
    event: str
    event_id: str
    command_id: str
    correlation_id: str
    occurred_at: datetime
    data: dict[str, Any]
    state: DeliveryState
    # Tries in this round (a retry by hand or a recover starts a new round), and in all.
    attempts: int = 0
    total_attempts: int = 0
    # When the poller looks at it next (Unix ms, a number so that every MongoDB-protocol
    # server compares it alike): the next try, or when a try in hand is presumed lost.
    due_ms: int
    last_status_code: int | None = None
    last_error: str | None = None
    last_attempt_ms: int | None = None
    created_at: datetime
    created_ms: int


class EndpointInfo(BaseModel):
    """An endpoint as its owner sees it: never its secret."""

    endpoint_id: str
    url: str
    events: tuple[str, ...]
    description: str
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    secrets_active: int = Field(description="2 while a rotated-out secret still signs")
    created_at: datetime


class EndpointCreated(BaseModel):
    """The result of creating an endpoint: the only time ``secret`` is shown."""

    endpoint_id: str
    url: str
    events: tuple[str, ...]
    description: str
    secret: Credential
    created_at: datetime


class SecretRotated(BaseModel):
    """The result of a rotation: the new secret, shown once, and when the old one stops."""

    endpoint_id: str
    secret: Credential
    previous_expires_at: datetime


class EndpointDeleted(BaseModel):
    endpoint_id: str
    deleted: bool = True


class DeliveryInfo(BaseModel):
    delivery_id: str
    endpoint_id: str
    event: str
    event_id: str
    state: DeliveryState
    attempts: int
    total_attempts: int
    last_status_code: int | None
    last_error: str | None
    last_attempt_at: datetime | None
    next_try_at: datetime | None
    created_at: datetime


class Recovered(BaseModel):
    endpoint_id: str
    recovered: int


class EndpointDisabled(BaseModel):
    """Payload of ``webhook_endpoint_disabled``: every try failed for too long."""

    endpoint_id: str
    owner_id: str
    url: str
    failing_since: datetime
    reason: str
