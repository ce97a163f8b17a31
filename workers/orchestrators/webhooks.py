"""Webhooks orchestrator: endpoints and deliveries in MongoDB, tries over HTTP.

An event's fan-out (a ``*`` hook, after every other hook) stores one delivery per
endpoint that hears it, keyed by its ``webhook-id`` (derived from the event and the
endpoint, so a re-run stores nothing new), and sends each its first try at once. A try
is the ``deliver`` job on the module's ``webhooks`` queue: it claims its delivery
(``queued → sending``), so a duplicate message does nothing, passes the endpoint's gate
(``core.webhook_gate``: tries in flight and rate per endpoint) and hands the try to the
process's pool of delivery threads, so the task ends at once and a slow endpoint holds a
thread, never the queue. The thread signs and posts (``core.webhooks``) and records the
outcome: succeeded, failed with the next try due on the schedule, or failed for good. A
closed gate or a full pool puts the delivery back a second later, the try not counted.

MongoDB is the schedule: every worker process looks every ``tick_s`` for deliveries that
are due (a next try, or a try queued or in hand for ``requeue_after_s`` without an
outcome, presumed lost) and queues them, each claimed by one process only. So a try
waiting hours holds nothing in the broker, and a lost message or a dead worker delays a
delivery, never loses it.

Secrets rest sealed (``core.sealing``, bound to the endpoint's id) and are opened only to
sign. Each worker start re-seals those sealed with an older key of the ring, so the bus
seal key's rotation carries them along.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pymongo import ReturnDocument
from pymongo.collection import Collection

from core.sealing import SealError
from core.webhook_gate import EndpointGate
from core.webhooks import AddressGuard, Attempt, UnsafeAddress, WebhookPoster, signing
from events import (
    WILDCARD,
    CommandResult,
    Conflict,
    HookRun,
    HookRunStatus,
    HookSink,
    InvalidInput,
    NotFound,
    Received,
    Sealed,
    utc_now,
)
from events.paging import Page, PageQuery
from modules.webhooks import WebhooksModule
from modules.webhooks.models import (
    CreateEndpointRequest,
    DeliveriesQuery,
    Delivery,
    DeliveryJob,
    DeliveryRef,
    DeliveryState,
    Endpoint,
    EndpointRef,
    RecoverRequest,
    RotateSecretRequest,
    UpdateEndpointRequest,
)
from modules.webhooks.module import DELIVER_JOB, DISABLED_EVENT, MANAGE_ANY, PRIORITY, millis
from workers.context import CommandContext, Emitter
from workers.documents import from_document, insert_once, to_document
from workers.listing import page_of
from workers.metrics import observe_webhook_try
from workers.orchestrator import Orchestrator, Step
from workers.orchestrators.user_management import UserManagementOrchestrator

log = logging.getLogger(__name__)

# How long a try that found its endpoint's gate closed waits before it is due again.
GATE_WAIT_S = 1.0
# Deliveries one process queues per tick at most.
RELEASE_BATCH = 200
# Tries still to be made: these states are the poller's.
_OPEN = [str(DeliveryState.PENDING), str(DeliveryState.QUEUED), str(DeliveryState.SENDING)]
_DONE = (DeliveryState.FAILED, DeliveryState.SUCCEEDED)


class WebhooksOrchestrator(Orchestrator[WebhooksModule]):
    module_class = WebhooksModule

    def on_start(self) -> None:
        settings = self.module.settings
        self.guard = AddressGuard.from_setting(settings.allowed_hosts)
        self.poster = WebhookPoster(self.guard, timeout_s=settings.timeout_s)
        self.gate = EndpointGate(
            self.services.redis,
            self.services.settings.redis_url,
            capacity=settings.endpoint_concurrency,
            rate_limit=settings.endpoint_rate_limit,
            lapse_s=settings.timeout_s + 30,
        )
        self._threads = threading.BoundedSemaphore(settings.delivery_threads)
        self._pool = ThreadPoolExecutor(settings.delivery_threads, "hookline-webhook")
        self._reseal()

    def periodic(self) -> list[Step]:
        return [Step("release", self.module.settings.tick_s, self.release_due)]

    # -- endpoints --------------------------------------------------------------------------

    def create_endpoint(self, ctx: CommandContext, request: CreateEndpointRequest) -> CommandResult:
        any_user = self._any(ctx)
        events = self.module.check_events(request.events, self.catalogue, any_user)
        url = self._checked(request.url)
        endpoint_id = self.module.endpoint_id_for(ctx.command.id)
        secret = signing.new_secret()
        endpoint = Endpoint(
            id=endpoint_id,
            owner_id=ctx.actor.user_id or "",
            any_user=any_user,
            url=url,
            events=events,
            description=request.description,
            secret=self._seal(endpoint_id, secret),
            created_ms=millis(ctx.now),
            updated_ms=millis(ctx.now),
        )
        # A redelivery replaces the secret: the earlier one was never shown to anyone.
        document = to_document(endpoint)
        created_ms = document.pop("created_ms")
        self._endpoints().update_one(
            {"_id": endpoint_id},
            {"$set": document, "$setOnInsert": {"created_ms": created_ms}},
            upsert=True,
        )
        return self.result(self.module.created(endpoint, secret), status_code=201)

    def list_endpoints(self, ctx: CommandContext, query: PageQuery) -> CommandResult:
        found = self._endpoints().find({"owner_id": ctx.actor.user_id or ""})
        endpoints = [from_document(Endpoint, d) for d in found]
        items = [
            (e.created_ms, self.module.info(e, millis(ctx.now)))
            for e in endpoints
            if e.deleted_ms is None
        ]
        items.sort(key=lambda pair: pair[0], reverse=True)
        return self.result(page_of(items, query))

    def get_endpoint(self, ctx: CommandContext, request: EndpointRef) -> CommandResult:
        endpoint = self._owned(ctx, request.endpoint_id)
        return self.result(self.module.info(endpoint, millis(ctx.now)))

    def update_endpoint(self, ctx: CommandContext, request: UpdateEndpointRequest) -> CommandResult:
        endpoint = self._owned(ctx, request.endpoint_id)
        changes: dict[str, Any] = {"updated_ms": millis(ctx.now)}
        if request.url is not None:
            changes["url"] = self._checked(request.url)
        if request.events is not None:
            any_event = endpoint.any_user or self._any(ctx)
            changes["events"] = list(
                self.module.check_events(request.events, self.catalogue, any_event)
            )
        if request.description is not None:
            changes["description"] = request.description
        return self._changed(ctx, endpoint.id, changes)

    def delete_endpoint(self, ctx: CommandContext, request: EndpointRef) -> CommandResult:
        endpoint = self._owned(ctx, request.endpoint_id)
        self._endpoints().update_one(
            {"_id": endpoint.id}, {"$set": {"deleted_ms": millis(ctx.now), "enabled": False}}
        )
        return self.result(self.module.deleted(endpoint.id))

    def enable_endpoint(self, ctx: CommandContext, request: EndpointRef) -> CommandResult:
        endpoint = self._owned(ctx, request.endpoint_id)
        changes = {"enabled": True, "disabled_reason": None, "failing_since_ms": None}
        return self._changed(ctx, endpoint.id, {**changes, "updated_ms": millis(ctx.now)})

    def rotate_secret(self, ctx: CommandContext, request: RotateSecretRequest) -> CommandResult:
        """A new secret signs first; the one it replaces signs beside it until the grace
        period ends. A redelivery of the same rotation makes its new secret again and
        keeps the previous one as the first run left it."""
        endpoint = self._owned(ctx, request.endpoint_id)
        secret = signing.new_secret()
        changes: dict[str, Any] = {"secret": self._seal(endpoint.id, secret).model_dump()}
        expires = endpoint.previous_expires_ms
        if endpoint.rotated_by != ctx.command.id or expires is None:
            grace = request.grace_s
            grace = self.module.settings.secret_grace_s if grace is None else grace
            expires = millis(ctx.now) + grace * 1000
            changes |= {
                "previous_secret": endpoint.secret.model_dump(),
                "previous_expires_ms": expires,
                "rotated_by": ctx.command.id,
            }
        self._endpoints().update_one(
            {"_id": endpoint.id}, {"$set": {**changes, "updated_ms": millis(ctx.now)}}
        )
        return self.result(self.module.rotated(endpoint.id, secret, expires))

    # -- deliveries by hand -----------------------------------------------------------------

    def list_deliveries(self, ctx: CommandContext, query: DeliveriesQuery) -> CommandResult:
        endpoint = self._owned(ctx, query.endpoint_id)
        selector: dict[str, Any] = {"endpoint_id": endpoint.id}
        if query.before is not None:
            selector["created_ms"] = {"$lt": query.before}
        found = self._deliveries().find(selector).sort("created_ms", -1).limit(query.limit)
        deliveries = [from_document(Delivery, d) for d in found]
        cursor = deliveries[-1].created_ms if len(deliveries) == query.limit else None
        items = [self.module.delivery_info(d).model_dump(mode="json") for d in deliveries]
        return self.result(Page(items=items, next=cursor))

    def retry_delivery(self, ctx: CommandContext, request: DeliveryRef) -> CommandResult:
        found = self._deliveries().find_one({"_id": request.delivery_id})
        if found is None:
            raise self.module.missing_delivery()
        delivery = from_document(Delivery, found)
        self._owned(ctx, delivery.endpoint_id, missing=self.module.missing_delivery())
        if delivery.state not in _DONE:
            raise Conflict("the delivery is still being tried", field="delivery_id")
        queued = self._deliveries().find_one_and_update(
            {"_id": delivery.id, "state": str(delivery.state)},
            {"$set": self._round(DeliveryState.QUEUED)},
            return_document=ReturnDocument.AFTER,
        )
        if queued is not None:  # else another retry took it first
            self.send_jobs(DELIVER_JOB, [DeliveryJob(delivery_id=delivery.id)])
            delivery = from_document(Delivery, queued)
        return self.result(self.module.delivery_info(delivery))

    def recover(self, ctx: CommandContext, request: RecoverRequest) -> CommandResult:
        """Every failed delivery made since ``since`` starts a new round of tries now."""
        endpoint = self._owned(ctx, request.endpoint_id)
        if not endpoint.enabled:
            raise Conflict("the endpoint is disabled: enable it first", field="endpoint_id")
        since_ms = int(request.since.timestamp() * 1000)
        changed = self._deliveries().update_many(
            {
                "endpoint_id": endpoint.id,
                "state": str(DeliveryState.FAILED),
                "created_ms": {"$gte": since_ms},
            },
            {"$set": self._round(DeliveryState.PENDING, due_in_s=0.0)},
        )
        return self.result(self.module.recovered(endpoint.id, changed.modified_count))

    # -- fan-out and tries ------------------------------------------------------------------

    def fan_out(self, event: Received[BaseModel], sink: HookSink) -> None:
        """One delivery per endpoint that hears ``event``, its first try sent at once."""
        subjects = self.catalogue[event.name].subjects_of(event.envelope.payload)
        selector = {"enabled": True, "events": {"$in": [event.name, WILDCARD]}}
        endpoints = [from_document(Endpoint, d) for d in self._endpoints().find(selector)]
        wide = self._hear_anyone({e.owner_id for e in endpoints if e.any_user})
        hearing = [
            e for e in endpoints if self.module.hears(e, event.name, subjects, e.owner_id in wide)
        ]
        if not hearing:
            return
        now = utc_now()
        requeue = self.module.settings.requeue_after_s
        stored = [
            insert_once(
                self._deliveries(),
                self.module.delivery_for(
                    event, e.id, signing.message_id(event.id, e.id), now, requeue
                ),
            )
            for e in hearing
        ]
        queued = [d for d in stored if d.state is DeliveryState.QUEUED]
        self.send_jobs(DELIVER_JOB, [DeliveryJob(delivery_id=d.id) for d in queued])

    def deliver(self, job: DeliveryJob) -> None:
        """One try of one delivery, if it is still queued (a duplicate message finds it
        taken and does nothing)."""
        delivery = self._claim(job.delivery_id)
        if delivery is None:
            return
        endpoint = self._endpoint(delivery.endpoint_id)
        if endpoint is None or endpoint.deleted_ms is not None or not endpoint.enabled:
            gone = endpoint is None or endpoint.deleted_ms is not None
            reason = "deleted" if gone else "disabled"
            self._finish(delivery, DeliveryState.FAILED, error=f"not tried: endpoint {reason}")
            return
        if not self.gate.enter(endpoint.id, delivery.id):
            self._later(delivery)
            return
        if not self._threads.acquire(blocking=False):
            self.gate.leave(endpoint.id, delivery.id)
            self._later(delivery)
            return
        self._pool.submit(self._try, endpoint, delivery)

    def _try(self, endpoint: Endpoint, delivery: Delivery) -> None:
        """In a delivery thread: post, free the slots, record the outcome."""
        try:
            attempt = self._post(endpoint, delivery)
        finally:
            self.gate.leave(endpoint.id, delivery.id)
            self._threads.release()
        try:
            self._outcome(endpoint, delivery, attempt)
        except Exception:  # its delivery stays in hand and is tried again once presumed lost
            log.exception("webhook delivery %s: outcome not recorded", delivery.id)

    def release_due(self) -> None:
        """Queue the deliveries whose next try is due, or whose try in hand is presumed lost."""
        due = (
            self._deliveries()
            .find(
                {"state": {"$in": _OPEN}, "due_ms": {"$lte": _ms_from_now(0)}},
                {"state": 1, "due_ms": 1},
            )
            .sort("due_ms", 1)
            .limit(RELEASE_BATCH)
        )
        requeue = _ms_from_now(self.module.settings.requeue_after_s)
        taken = [
            DeliveryJob(delivery_id=d["_id"])
            for d in list(due)
            if self._deliveries()
            .update_one(
                {"_id": d["_id"], "state": d["state"], "due_ms": d["due_ms"]},
                {"$set": {"state": str(DeliveryState.QUEUED), "due_ms": requeue}},
            )
            .modified_count
        ]
        if taken:
            self.send_jobs(DELIVER_JOB, taken)

    def _claim(self, delivery_id: str) -> Delivery | None:
        # A try in hand ends within its timeout: past that and a margin, it was lost.
        lost_at = _ms_from_now(self.module.settings.timeout_s + 30)
        found = self._deliveries().find_one_and_update(
            {"_id": delivery_id, "state": str(DeliveryState.QUEUED)},
            {
                "$set": {"state": str(DeliveryState.SENDING), "due_ms": lost_at},
                "$inc": {"attempts": 1, "total_attempts": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        return None if found is None else from_document(Delivery, found)

    def _later(self, delivery: Delivery) -> None:
        """The endpoint's gate was closed: due again in a moment, the try not counted."""
        self._deliveries().update_one(
            {"_id": delivery.id, "state": str(DeliveryState.SENDING)},
            {
                "$set": {
                    "state": str(DeliveryState.PENDING),
                    "due_ms": _ms_from_now(GATE_WAIT_S),
                },
                "$inc": {"attempts": -1, "total_attempts": -1},
            },
        )

    def _post(self, endpoint: Endpoint, delivery: Delivery) -> Attempt:
        body = self.module.body(delivery)
        started = time.perf_counter()
        try:
            secrets = self._signing_secrets(endpoint)
            headers = signing.headers(delivery.id, int(time.time()), body, secrets)
            return self.poster.post(endpoint.url, body, headers)
        except UnsafeAddress as e:
            return Attempt(None, time.perf_counter() - started, f"refused: {e.reason}")
        except SealError as e:
            return Attempt(None, time.perf_counter() - started, f"secret not opened: {e}")

    def _outcome(self, endpoint: Endpoint, delivery: Delivery, attempt: Attempt) -> None:
        now = utc_now()
        self._attempts().insert_one(
            {
                "_id": f"{delivery.id}/{delivery.total_attempts}",
                "delivery_id": delivery.id,
                "at": now,
                "status_code": attempt.status_code,
                "duration_ms": round(attempt.duration_s * 1000, 3),
                "error": attempt.error,
            }
        )
        if attempt.ok:
            self._finish(delivery, DeliveryState.SUCCEEDED, attempt=attempt)
            self._endpoints().update_one(
                {"_id": endpoint.id, "failing_since_ms": {"$ne": None}},
                {"$set": {"failing_since_ms": None}},
            )
            self._trace(endpoint, delivery, attempt, HookRunStatus.SUCCEEDED)
            return
        delay = self.module.next_try(delivery.attempts)
        if delay is None:
            self._finish(delivery, DeliveryState.FAILED, attempt=attempt)
        else:
            self._finish(delivery, DeliveryState.PENDING, attempt=attempt, due_in_s=delay)
        status = HookRunStatus.DEAD if delay is None else HookRunStatus.FAILED
        self._trace(endpoint, delivery, attempt, status)
        self._failing(endpoint, delivery, now)

    def _finish(
        self,
        delivery: Delivery,
        state: DeliveryState,
        *,
        attempt: Attempt | None = None,
        error: str | None = None,
        due_in_s: float = 0.0,
    ) -> None:
        now = utc_now()
        changes: dict[str, Any] = {
            "state": str(state),
            "due_ms": _ms_from_now(due_in_s),
        }
        if attempt is not None:
            changes |= {
                "last_status_code": attempt.status_code,
                "last_error": attempt.error or _status_error(attempt),
                "last_attempt_ms": millis(now),
            }
        elif error is not None:
            changes["last_error"] = error
        self._deliveries().update_one(
            {"_id": delivery.id, "state": str(DeliveryState.SENDING)}, {"$set": changes}
        )

    def _failing(self, endpoint: Endpoint, delivery: Delivery, now: datetime) -> None:
        """Note since when the endpoint fails; past ``disable_after_s``, disable it (once)
        and emit ``webhook_endpoint_disabled``."""
        now_ms = millis(now)
        self._endpoints().update_one(
            {"_id": endpoint.id, "failing_since_ms": None}, {"$set": {"failing_since_ms": now_ms}}
        )
        since = endpoint.failing_since_ms or now_ms
        if not self.module.should_disable(since, now_ms):
            return
        flipped = self._endpoints().find_one_and_update(
            {"_id": endpoint.id, "enabled": True},
            {"$set": {"enabled": False, "disabled_reason": "every try failed too long"}},
        )
        if flipped is None:
            return
        log.warning("webhook endpoint %s disabled: failing since %s", endpoint.id, since)
        emitter = Emitter(
            self.catalogue,
            cause_id=f"{endpoint.id}/disabled/{since}",
            correlation_id=delivery.correlation_id,
            command_id=delivery.command_id,
            depth=1,
            max_depth=self.services.settings.max_event_depth,
        )
        emitter.emit(DISABLED_EVENT, self.module.disabled_event(endpoint, since))
        self.services.state.expect_events(delivery.command_id, [e.id for e in emitter.events])
        self.services.bus.publish(emitter.events)

    def _trace(
        self, endpoint: Endpoint, delivery: Delivery, attempt: Attempt, status: HookRunStatus
    ) -> None:
        """The try in the trace of the command whose event it delivers, and in the metrics."""
        run = HookRun(
            event=delivery.event,
            event_id=delivery.event_id,
            module=self.module.name,
            handler=DELIVER_JOB,
            priority=PRIORITY,
            status=status,
            attempts=delivery.total_attempts,
            duration_ms=round(attempt.duration_s * 1000, 3),
            error=attempt.error or _status_error(attempt),
            target=f"{endpoint.id}/{delivery.id}",
        )
        self.services.state.record_hook_run(delivery.command_id, run)
        observe_webhook_try(str(status), attempt.duration_s)

    # -- helpers ----------------------------------------------------------------------------

    def _hear_anyone(self, owners: set[str]) -> frozenset[str]:
        """Of ``owners`` (of endpoints created to hear anyone), those who still hold
        ``webhooks:manage_any`` by the roles MongoDB has now: an admin who lost the role
        keeps endpoints that hear only events about them."""
        users = self.peer(UserManagementOrchestrator)
        roles = self.services.roles
        found = (users.find_by_id(owner) for owner in owners)
        return frozenset(u.id for u in found if u and MANAGE_ANY in roles.of_roles(u.roles))

    def _any(self, ctx: CommandContext) -> bool:
        return self.services.roles.has_permission(ctx.actor, MANAGE_ANY)

    def _owned(
        self, ctx: CommandContext, endpoint_id: str, missing: Exception | None = None
    ) -> Endpoint:
        try:
            return self.module.may_manage(
                self._endpoint(endpoint_id), ctx.actor.user_id, self._any(ctx)
            )
        except NotFound:
            if missing is not None:
                raise missing from None
            raise

    def _changed(
        self, ctx: CommandContext, endpoint_id: str, changes: Mapping[str, Any]
    ) -> CommandResult:
        found = self._endpoints().find_one_and_update(
            {"_id": endpoint_id}, {"$set": dict(changes)}, return_document=ReturnDocument.AFTER
        )
        endpoint = self.module.may_manage(
            None if found is None else from_document(Endpoint, found), ctx.actor.user_id, True
        )
        return self.result(self.module.info(endpoint, millis(ctx.now)))

    def _checked(self, url: str) -> str:
        try:
            self.guard.check(url)
        except UnsafeAddress as e:
            raise InvalidInput(f"url: {e.reason}", field="url") from e
        return url

    def _round(self, state: DeliveryState, due_in_s: float | None = None) -> dict[str, Any]:
        """A new round of tries: its count starts again."""
        wait = self.module.settings.requeue_after_s if due_in_s is None else due_in_s
        return {"state": str(state), "attempts": 0, "due_ms": _ms_from_now(wait)}

    def _endpoint(self, endpoint_id: str) -> Endpoint | None:
        found = self._endpoints().find_one({"_id": endpoint_id})
        return None if found is None else from_document(Endpoint, found)

    def _signing_secrets(self, endpoint: Endpoint) -> list[str]:
        """The endpoint's secrets, newest first: the previous one while its grace lasts."""
        secrets = [self._open(endpoint.id, endpoint.secret)]
        previous, expires = endpoint.previous_secret, endpoint.previous_expires_ms
        if previous is not None and expires is not None and expires > _ms_from_now(0):
            secrets.append(self._open(endpoint.id, previous))
        return secrets

    def _seal(self, endpoint_id: str, secret: str) -> Sealed:
        return self.services.keys.seal({"secret": secret}, bound_to=_binding(endpoint_id))

    def _open(self, endpoint_id: str, sealed: Sealed) -> str:
        return str(self.services.keys.open(sealed, bound_to=_binding(endpoint_id))["secret"])

    def _reseal(self) -> None:
        """Seal again, with the ring's newest key, every secret an older key sealed."""
        newest = self.services.keys.sealing_key.key_id
        for document in self._endpoints().find({"deleted_ms": None}):
            endpoint = from_document(Endpoint, document)
            changes: dict[str, Any] = {}
            for field in ("secret", "previous_secret"):
                sealed: Sealed | None = getattr(endpoint, field)
                if sealed is None or sealed.key_id == newest:
                    continue
                try:
                    opened = self._open(endpoint.id, sealed)
                except SealError as e:
                    log.error(
                        "webhook endpoint %s: %s secret not opened: %s", endpoint.id, field, e
                    )
                    continue
                changes[field] = self._seal(endpoint.id, opened).model_dump()
            if changes:
                self._endpoints().update_one({"_id": endpoint.id}, {"$set": changes})

    def _endpoints(self) -> Collection[dict[str, Any]]:
        return self.collection("endpoints")

    def _deliveries(self) -> Collection[dict[str, Any]]:
        return self.collection("deliveries")

    def _attempts(self) -> Collection[dict[str, Any]]:
        return self.collection("attempts")


def _ms_from_now(seconds: float) -> int:
    """Unix milliseconds ``seconds`` from now: how due times are stored."""
    return int((time.time() + seconds) * 1000)


def _binding(endpoint_id: str) -> str:
    return f"webhook-secret:{endpoint_id}"


def _status_error(attempt: Attempt) -> str | None:
    """A failed try that got an answer: its status code, as the error to show."""
    if attempt.ok or attempt.status_code is None:
        return None
    return f"HTTP {attempt.status_code}"
