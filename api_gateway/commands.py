"""Submitting commands and answering with 202, or with the outcome when the client waits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api_gateway.admission import Caller, Policy
from api_gateway.handover import (
    CommandClaim,
    hand_over,
    may_read,
    secret_headers,
    shown_to,
)
from api_gateway.idempotency import Claim, fingerprint, idempotency_key
from api_gateway.prefer import requested_wait_s
from api_gateway.problems import problem_response
from api_gateway.services import GatewayServices
from core import logs
from core.command_state import SETTLED, CommandDocument
from core.sealing import seal_command
from events import TERMINAL, Actor, Command, NotFound

log = logging.getLogger(__name__)

# Waiters re-read the state at least this often, in case a pub/sub message was lost.
RECHECK_INTERVAL_S = 0.5
# The changes after which a command may be done; others (running, retrying) cannot end a wait.
MAY_BE_DONE = frozenset({*(str(status) for status in TERMINAL), SETTLED})
CORRELATION_HEADER = "x-correlation-id"
REPLAYED_HEADER = "Idempotent-Replayed"
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
) -> Command:
    """The command for this request, its ``sensitive`` fields sealed: from here on, nothing
    the gateway sends or stores holds them in plaintext."""
    # The request context middleware sets the id; the header is read for apps built without it.
    correlation = logs.correlation_id.get() or request.headers.get(CORRELATION_HEADER, "")[:128]
    command = (
        Command(name=name, payload=payload, actor=actor, correlation_id=correlation)
        if correlation
        else Command(name=name, payload=payload, actor=actor)
    )
    return seal_command(services_of(request).keys, command, sensitive)


async def submit_for(request: Request, command: Command, caller: Caller) -> Response:
    """A caller's command: at most one per Idempotency-Key, within the in-flight cap."""
    services = services_of(request)
    key = idempotency_key(request)
    undo: list[Undo] = []
    if key is not None:
        claim = Claim(command_id=command.id, fingerprint=fingerprint(services.keys, command))
        earlier = await services.idempotency.claim(caller.identity, key, claim)
        if earlier is not None:
            return await follow(request, earlier.command_id, caller.actor)
        undo.append(lambda: services.idempotency.release(caller.identity, key))
    try:
        await services.in_flight.reserve(caller.identity, command.id)
    except Exception:
        await _run(undo)
        raise
    undo.append(lambda: services.in_flight.release(caller.identity, command.id))
    return await submit(request, command, undo=undo)


async def submit(
    request: Request, command: Command, wait_s: int | None = None, undo: list[Undo] | None = None
) -> Response:
    """Accept ``command``; answer with its outcome if it ends within the wait, else 202.

    ``undo`` runs when the broker does not take the command, so nothing is half-accepted.
    """
    services = services_of(request)
    logs.command_id.set(command.id)
    if wait_s is None:
        wait_s = requested_wait_s(request, services.settings.max_wait_s)
    headers: dict[str, str] = {}
    if command.actor.is_anonymous:
        claim = CommandClaim.new()
        command = command.model_copy(update={"claim_digest": claim.digest})
        headers.update(claim.headers)
    async with services.watcher.watch(command.id, MAY_BE_DONE) as changed:
        try:
            await services.publisher.publish(command)  # recorded, on the broker, confirmed
        except Exception:
            await _run(undo or [])
            raise
        document = await wait_for(services, command.id, changed, wait_s) if wait_s else None
    if document is not None and document.status.is_terminal:
        headers["Preference-Applied"] = f"wait={wait_s}"
        return await outcome_response(services, document, headers)
    return accepted_response(command.id, headers)


async def follow(request: Request, command_id: str, actor: Actor) -> Response:
    """Answer a repeated request with the command it already caused (waiting if asked).

    The same caller sent the same request (the key is theirs, the fingerprint matched), so
    they are its submitter: an anonymous one gets a claim of their own.
    """
    services = services_of(request)
    wait_s = requested_wait_s(request, services.settings.max_wait_s)
    headers = {REPLAYED_HEADER: "true"}
    if actor.is_anonymous:
        claim = CommandClaim.new()
        await services.state.add_claim(command_id, claim.digest)
        headers.update(claim.headers)
    document = None
    if wait_s:
        async with services.watcher.watch(command_id) as changed:
            document = await wait_for(services, command_id, changed, wait_s)
    if document is not None and document.status.is_terminal:
        headers["Preference-Applied"] = f"wait={wait_s}"
        return await outcome_response(services, document, headers)
    return accepted_response(command_id, headers)


async def wait_for(
    services: GatewayServices, command_id: str, changed: asyncio.Event, wait_s: float
) -> CommandDocument | None:
    """The command's document once it is done, or as it stands when the wait runs out.

    Just published, the command cannot be done yet, so the first read waits for a
    wake-up (or the recheck timer) like every later one.
    """
    deadline = time.monotonic() + wait_s
    while True:
        remaining = deadline - time.monotonic()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, min(remaining, RECHECK_INTERVAL_S))):
                await changed.wait()
        changed.clear()  # before reading: a change after this read sets it again
        document = await services.state.read(command_id)
        if document is None or document.is_done or deadline - time.monotonic() <= 0:
            return document


def accepted_response(command_id: str, headers: dict[str, str] | None = None) -> Response:
    status_url = f"/commands/{command_id}"
    body = {"command_id": command_id, "status": "accepted", "status_url": status_url}
    return JSONResponse(body, status_code=202, headers={**(headers or {}), "Location": status_url})


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
    theirs, so nobody learns which ids exist."""
    command_id = request.path_params["command_id"]
    document = await services_of(request).state.read(command_id)
    if document is None or not may_read(actor, request, document):
        raise NotFound(f"no command {command_id}")
    return document


async def _run(steps: list[Undo]) -> None:
    for step in reversed(steps):
        await step()
