"""Submitting commands and answering with 202, or with the outcome when the client waits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis.exceptions
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api_gateway.auth import authenticate
from api_gateway.prefer import requested_wait_s
from api_gateway.problems import problem_response
from api_gateway.services import GatewayServices
from core.command_state import CommandDocument
from core.redelivery import SentMessage
from events import Actor, Command, NotFound

log = logging.getLogger(__name__)

# Waiters re-read the state at least this often, in case a pub/sub message was lost.
RECHECK_INTERVAL_S = 0.5
CORRELATION_HEADER = "x-correlation-id"


def services_of(request: Request) -> GatewayServices:
    services: GatewayServices = request.app.state.services
    return services


def new_command(request: Request, name: str, payload: dict[str, object], actor: Actor) -> Command:
    correlation = request.headers.get(CORRELATION_HEADER, "")[:128]
    if correlation:
        return Command(name=name, payload=payload, actor=actor, correlation_id=correlation)
    return Command(name=name, payload=payload, actor=actor)


async def submit(request: Request, command: Command, wait_s: int | None = None) -> Response:
    """Accept ``command``; answer with its outcome if it ends within the wait, else 202."""
    services = services_of(request)
    if wait_s is None:
        wait_s = requested_wait_s(request, services.settings.max_wait_s)
    async with services.watcher.watch(command.id) as changed:
        await services.state.accept(command)
        message = SentMessage.now(
            command.id, command.name, command.module, [command.model_dump(mode="json")]
        )
        try:
            await services.publisher.publish(command)
        except Exception:
            await forget(services, command.id)
            raise
        await note_published(services, message)
        document = await wait_for(services, command.id, changed, wait_s) if wait_s else None
    if document is not None and document.status.is_terminal:
        return outcome_response(document, {"Preference-Applied": f"wait={wait_s}"})
    return accepted_response(command.id)


async def note_published(services: GatewayServices, message: SentMessage) -> None:
    """Note the command in the message ledger, so a broker that loses it gets it again.

    Only after the broker took it: a command answered with 503 must never be sent."""
    try:
        await services.ledger.record_published(message)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        log.warning("command %s published but not noted", message.task_id)


async def forget(services: GatewayServices, command_id: str) -> None:
    """Drop the record of a command the broker did not take; it is never run."""
    try:
        await services.state.forget(command_id)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
        # Redis is down as well (it is often the broker too): the record stays, but no
        # message carries the command, so nothing runs it. Report the publish failure.
        log.warning("could not forget unpublished command %s", command_id)


async def wait_for(
    services: GatewayServices, command_id: str, changed: asyncio.Event, wait_s: float
) -> CommandDocument | None:
    """The command's document once it is done, or as it stands when the wait runs out."""
    deadline = time.monotonic() + wait_s
    while True:
        document = await services.state.read(command_id)
        remaining = deadline - time.monotonic()
        if document is None or document.is_done or remaining <= 0:
            return document
        changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(changed.wait(), min(remaining, RECHECK_INTERVAL_S))


def accepted_response(command_id: str) -> Response:
    status_url = f"/commands/{command_id}"
    body = {"command_id": command_id, "status": "accepted", "status_url": status_url}
    return JSONResponse(body, status_code=202, headers={"Location": status_url})


def outcome_response(document: CommandDocument, headers: dict[str, str]) -> Response:
    headers = {**headers, "Location": f"/commands/{document.command_id}"}
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
    command_id = request.path_params["command_id"]
    document = await services.state.read(command_id)
    actor = authenticate_optional(request)
    if document is None or not may_read(actor, document):
        raise NotFound(f"no command {command_id}")
    return JSONResponse(document.public())


def authenticate_optional(request: Request) -> Actor:
    return authenticate(request, services_of(request).tokens, required=False)


def may_read(actor: Actor, document: CommandDocument) -> bool:
    """Owners and admins see a command; an anonymous command is readable by its unguessable id."""
    return "admin" in actor.roles or document.owner in (actor.principal, "anonymous")
