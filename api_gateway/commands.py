"""Submitting commands and answering with 202, or with the outcome when the client waits."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NamedTuple

import anyio
import redis
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api_gateway.admission import Caller, Policy
from api_gateway.command_timing import command_timing
from api_gateway.errors import KeyInUse, ServiceUnavailable
from api_gateway.handover import (
    CommandClaim,
    hand_over,
    may_read,
    secret_headers,
    shown_to,
)
from api_gateway.idempotency import (
    AbandonedClaim,
    Claim,
    EarlierClaim,
    KeyScope,
    fingerprint,
    idempotency_key,
)
from api_gateway.prefer import requested_wait_s
from api_gateway.problems import problem_response
from api_gateway.services import GatewayServices
from api_gateway.watcher import Changes
from core import logs, scripts, tracing
from core.command_state import SETTLED, CommandDocument
from core.sealing import seal_command
from events import (
    TERMINAL,
    Actor,
    Command,
    CommandStatus,
    Gone,
    NotFound,
    command_id_time,
    is_id,
)

log = logging.getLogger(__name__)

# The changes after which a command may be done; others (running, retrying) cannot end a wait.
MAY_BE_DONE = frozenset({*(str(status) for status in TERMINAL), SETTLED})
CORRELATION_HEADER = "x-correlation-id"
REPLAYED_HEADER = "Idempotent-Replayed"
# A duplicate of a request still in flight is told to come back after this long (409).
RETRY_IN_FLIGHT_S = 1
COMMAND_DOCUMENT_POLICY = Policy("commands.read", auth=False)

Undo = Callable[[], Awaitable[None]]


def services_of(request: Request) -> GatewayServices:
    services: GatewayServices = request.app.state.services
    return services


def new_command(
    request: Request,
    name: str,
    payload: dict[str, object],
    actor: Actor,
    sensitive: frozenset[str] = frozenset(),
    *,
    serial_key: str | None = None,
) -> Command:
    """The command for this request, its ``sensitive`` fields sealed: from here on, nothing
    the gateway sends or stores holds them in plaintext. ``serial_key``: the line it runs
    in (``events.serial``), if its route has one."""
    # The request context middleware sets the id; the header is read for apps built without it.
    correlation = logs.correlation_id.get() or request.headers.get(CORRELATION_HEADER, "")[:128]
    fields: dict[str, Any] = {"correlation_id": correlation} if correlation else {}
    command = Command(
        name=name,
        payload=payload,
        actor=actor,
        serial_key=serial_key,
        traceparent=tracing.traceparent(),
        **fields,
    )
    return seal_command(services_of(request).keys, command, sensitive)


async def submit_for(request: Request, command: Command, caller: Caller) -> Response:
    """A caller's command: at most one per Idempotency-Key and route, within the in-flight cap.

    Its headers are read first and its open wait taken (``Prefer: wait``), so a bad header
    or one wait too many costs nothing; then the key's claim and the in-flight slot (one
    round trip), each undone if anything stops the request before the broker took the
    command (``_holding``).
    """
    services = services_of(request)
    wait_s = requested_wait_s(request, services.settings.max_wait_s)
    timing = command_timing(request, services.settings.schedule_horizon_s)
    command = command.model_copy(
        update={"not_before": timing.not_before, "deadline": timing.deadline}
    )
    key = idempotency_key(request)
    # A scheduled command counts as in flight from now until it has had its time.
    due = command.not_before.timestamp() if command.not_before else None
    slot = Slot(caller.identity, command.id, due)
    with services.waits.held(caller.identity, wait_s):
        async with _holding() as holds:
            holds.add(functools.partial(services.in_flight.release, slot.identity, slot.command_id))
            if key is None:
                await services.in_flight.reserve(*slot)
            else:
                replay = await _claim_or_follow(
                    request, command, caller, key, slot=slot, wait_s=wait_s, holds=holds
                )
                if replay is not None:
                    return replay
            return await submit(request, command, wait_s, holds)


async def submit_waiting(request: Request, command: Command, caller: Caller) -> Response:
    """A command the route answers once it is done (a query rebuilding its read model, an
    admin command), within the longest wait, else 202; an open wait of the caller's."""
    services = services_of(request)
    wait_s = services.settings.max_wait_s
    with services.waits.held(caller.identity, wait_s):
        return await submit(request, command, wait_s)


class Slot(NamedTuple):
    """A command's place in its caller's in-flight cap: ``InFlightLimiter.reserve``'s
    arguments (``from_s``: a scheduled command counts from its time on)."""

    identity: str
    command_id: str
    from_s: float | None


async def _claim_or_follow(
    request: Request,
    command: Command,
    caller: Caller,
    key: str,
    *,
    slot: Slot,
    wait_s: int,
    holds: Holds,
) -> Response | None:
    """Claim ``key`` for ``command`` and reserve its ``slot`` in one round trip (None: a new
    key, or an abandoned claim taken over), or answer from the command the key already
    stands for (a replay takes no slot, even at the cap)."""
    services = services_of(request)
    scope = KeyScope(caller.identity, command.name)
    claim = Claim(command_id=command.id, fingerprint=fingerprint(services.keys, command))
    # Before the claim: the release deletes the record only while it names this command.
    holds.add(functools.partial(services.idempotency.release, scope, key, command.id))
    found, reserved = await scripts.run_all_async(
        services.redis,
        [
            services.idempotency.claim_call(scope, key, claim),
            services.in_flight.reserve_call(*slot),
        ],
    )
    earlier = services.idempotency.claimed(found, claim)
    if earlier is None:
        services.in_flight.check(reserved)
        return None
    await services.in_flight.release(slot.identity, slot.command_id)  # the key has its command
    try:
        return await follow(request, earlier, caller.actor, wait_s)
    except AbandonedClaim:
        if not await services.idempotency.take_over(scope, key, earlier, claim):
            raise _in_use(earlier.command_id) from None
    await services.in_flight.reserve(*slot)
    return None


class Holds:
    """What a request claimed or reserved for its command (an Idempotency-Key, an in-flight
    slot), as the steps that free it; kept once the broker took the command."""

    def __init__(self) -> None:
        self.steps: list[Undo] = []

    def add(self, step: Undo) -> None:
        """``step`` frees what the request is about to claim; it must be harmless if nothing
        was claimed (a compare-and-delete, a set removal)."""
        self.steps.append(step)

    def keep(self) -> None:
        """The command is accepted (or may be): nothing is freed any more."""
        self.steps.clear()


@contextlib.asynccontextmanager
async def _holding() -> AsyncIterator[Holds]:
    """The one place where what a request holds is freed: whatever stops it before its
    command is accepted (a bad header, a refusal, a store error, a cancellation)."""
    holds = Holds()
    try:
        yield holds
    except BaseException:
        with anyio.CancelScope(shield=True):  # a cancelled request still frees what it held
            await _run(holds.steps)
        raise


async def submit(
    request: Request, command: Command, wait_s: int, holds: Holds | None = None
) -> Response:
    """Accept ``command``; answer with its outcome if it ends within ``wait_s``, else 202.

    ``holds`` are kept once the broker has the command, and when the request is cancelled
    while it is on its way (it may still get there: the key's claim then names it, see
    ``api_gateway.idempotency``); they are freed when the publisher refuses it.
    """
    services = services_of(request)
    logs.command_id.set(command.id)
    held = holds or Holds()
    headers: dict[str, str] = {}
    if command.actor.is_anonymous:
        claim = CommandClaim.new()
        command = command.model_copy(update={"claim_digest": claim.digest})
        headers.update(claim.headers)
    async with services.watcher.watch(command.id, MAY_BE_DONE) as changed:
        try:
            status = await accept(services, command)
        except asyncio.CancelledError:
            held.keep()
            raise
        held.keep()
        document = await wait_for(services, command.id, changed, wait_s) if wait_s else None
    if document is not None and document.status.is_terminal:
        headers["Preference-Applied"] = f"wait={wait_s}"
        return await outcome_response(services, document, headers)
    return accepted_response(command.id, headers, status)


async def accept(services: GatewayServices, command: Command) -> CommandStatus:
    """Put ``command`` where it runs from: the broker (recorded, published, confirmed), or
    the schedule when it may not start yet."""
    if command.not_before is None:
        await services.publisher.publish(command)
        status = CommandStatus.ACCEPTED
    else:
        try:
            await services.state.record_scheduled(command)
        except redis.RedisError as e:
            raise ServiceUnavailable("the state store is unavailable; try again shortly") from e
        status = CommandStatus.SCHEDULED
    services.history.accepted(command, status)  # the gateway's one seam for an acceptance
    return status


async def follow(request: Request, earlier: EarlierClaim, actor: Actor, wait_s: int) -> Response:
    """Answer a repeated request from the command its key already stands for.

    A finished command is replayed: its outcome, as first answered. One still in
    flight is a 409, unless the request asked to wait (``Prefer: wait``): then it
    waits, and answers the outcome, or 202 with the status when the wait runs out.
    The same caller sent the same request (the key is theirs, the fingerprint
    matched), so they are its submitter: an anonymous one gets a claim of their own.
    Raises ``AbandonedClaim`` when the key names a command that never runs.
    """
    services = services_of(request)
    command_id = earlier.command_id
    document = await _current(services, command_id, wait_s)
    if _never_runs(document, earlier):
        raise AbandonedClaim(command_id)
    if document is None or not (wait_s or document.status.is_terminal):
        raise _in_use(command_id)
    headers = {REPLAYED_HEADER: "true", **await _claim_headers(services, actor, command_id)}
    if not document.status.is_terminal:
        return accepted_response(command_id, headers, document.status)
    if wait_s:
        headers["Preference-Applied"] = f"wait={wait_s}"
    return await outcome_response(services, document, headers)


async def _current(
    services: GatewayServices, command_id: str, wait_s: int
) -> CommandDocument | None:
    """The command's document now if it is finished (or no wait was asked for), else once it
    is done or the wait has run out; None while it is not recorded (yet)."""
    async with services.watcher.watch(command_id, MAY_BE_DONE) as changed:
        document = await services.state.read(command_id)
        if wait_s and (document is None or not document.status.is_terminal):
            document = await wait_for(services, command_id, changed, wait_s, _is_done)
    return document


def _never_runs(document: CommandDocument | None, earlier: EarlierClaim) -> bool:
    """The key's command was refused (its request was answered 503), or it was never
    recorded and no longer can be."""
    if document is None:
        return earlier.abandoned
    return document.status is CommandStatus.REFUSED


def _is_done(document: CommandDocument | None) -> bool:
    return document is not None and document.is_done


async def _claim_headers(
    services: GatewayServices, actor: Actor, command_id: str
) -> dict[str, str]:
    """For an anonymous caller, a new claim on the command (it is read with that claim)."""
    if not actor.is_anonymous:
        return {}
    claim = CommandClaim.new()
    await services.state.add_claim(command_id, claim.digest)
    return claim.headers


def _in_use(command_id: str) -> KeyInUse:
    return KeyInUse(
        "the first request with this Idempotency-Key is still being processed; repeat it "
        "after Retry-After seconds for its outcome, or wait for it with Prefer: wait=N",
        location=status_url(command_id),
        retry_after_s=RETRY_IN_FLIGHT_S,
    )


def _done_or_gone(document: CommandDocument | None) -> bool:
    return document is None or document.is_done


async def wait_for(
    services: GatewayServices,
    command_id: str,
    changed: Changes,
    wait_s: float,
    ended: Callable[[CommandDocument | None], bool] = _done_or_gone,
) -> CommandDocument | None:
    """The command's document once it is done (by default: or gone), or as it stands when
    the wait runs out.

    Just published, the command cannot be done yet, so the first read waits for a
    wake-up (or the recheck timer) like every later one. A command read finished with
    hooks pending is not read again once they settle: its ``hooks`` are as that read saw.
    """
    recheck_s = services.settings.wait_recheck_s
    deadline = time.monotonic() + wait_s
    document: CommandDocument | None = None
    while True:
        remaining = deadline - time.monotonic()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, min(remaining, recheck_s))):
                await changed.wait()
        known = _settled(document) if SETTLED in changed.seen else None
        changed.clear()  # before reading: a change after this read sets it again
        document = known or await services.state.read(command_id)
        if ended(document) or deadline - time.monotonic() <= 0:
            return document


def _settled(last: CommandDocument | None) -> CommandDocument | None:
    """When the last read found the command finished with hooks pending, and they have all
    settled since (``settled`` is published once the last of them has), it is done: no
    need to read it again. None: read it."""
    if last is None or not last.status.is_terminal:
        return None
    return last.model_copy(update={"hooks_pending": 0})


def status_url(command_id: str) -> str:
    return f"/commands/{command_id}"


def accepted_response(
    command_id: str,
    headers: dict[str, str] | None = None,
    status: CommandStatus = CommandStatus.ACCEPTED,
) -> Response:
    """202: the command, not finished yet (``status``), and where to follow it."""
    url = status_url(command_id)
    body = {"command_id": command_id, "status": str(status), "status_url": url}
    return JSONResponse(body, status_code=202, headers={**(headers or {}), "Location": url})


async def outcome_response(
    services: GatewayServices, document: CommandDocument, headers: dict[str, str]
) -> Response:
    """The outcome, for its submitter: a secret result is handed over here."""
    shown = await hand_over(services, document)
    headers = {
        **headers,
        **secret_headers(document, shown),
        "Location": f"/commands/{document.command_id}",
    }
    document = shown
    if document.error is not None:
        response = problem_response(document.error)
        response.headers.update(headers)
        return response
    result = document.result
    body = result.body if result is not None else None
    return JSONResponse(body, status_code=result.status_code if result else 200, headers=headers)


async def command_document(request: Request) -> Response:
    """``GET /commands/{id}``: the command, for its owner (or an admin) only."""
    services = services_of(request)
    caller = await services.gate.admit(request, COMMAND_DOCUMENT_POLICY)
    document = await readable_document(request, caller.actor)
    shown = await shown_to(services, request, caller.actor, document)
    return JSONResponse(shown.public(), headers=secret_headers(document, shown))


async def readable_document(request: Request, actor: Actor) -> CommandDocument:
    """The path's command if ``actor`` may read it; ``NotFound`` whether it is missing or not
    theirs, so nobody learns which ids exist. An id of another shape than ours names no
    command, and is never read (``x:hooks`` would read another key)."""
    command_id = request.path_params["command_id"]
    if not is_id(command_id):
        raise NotFound("no such command")
    services = services_of(request)
    document = await services.state.read(command_id)
    if document is None and _past_ttl(command_id, services.settings.command_ttl_s):
        raise Gone(f"command {command_id} is past its TTL; its document is gone")
    if document is None or not may_read(actor, request, document):
        raise NotFound(f"no command {command_id}")
    return document


def _past_ttl(command_id: str, ttl_s: int) -> bool:
    """The id was made longer ago than a command lives: it is gone, if it ever was. That
    is all the id tells (anyone could compute it), so the answer is the same for anyone."""
    made = command_id_time(command_id)
    return made is not None and made < time.time() - ttl_s


async def _run(steps: list[Undo]) -> None:
    """Every step, last first, even after one fails: the caller re-raises what stopped it."""
    for step in reversed(steps):
        try:
            await step()
        except Exception:
            log.warning("could not undo a step of a command not accepted", exc_info=True)
