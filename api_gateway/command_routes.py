"""The routes of commands themselves: read one, list one's own, cancel one.

``GET /commands`` pages through the caller's index (``core.command_index``),
newest first. Filters are applied to the documents as they are read, so a page
may hold fewer than ``limit`` items although more follow: a page reads at most
``MAX_SCANNED`` entries, and ``next_cursor`` is null only at the end.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Collection
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from api_gateway.admission import Policy
from api_gateway.bodies import check_query, validate
from api_gateway.commands import command_document, readable_document, services_of
from api_gateway.errors import BadRequest
from api_gateway.handover import is_submitter
from core.command_state import CancelAction, CommandDocument
from core.security import CANCEL_ANY_COMMAND, READ_ANY_COMMAND
from events import Actor, CommandStatus, Conflict, Forbidden, NotFound, is_id
from events.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

LIST_POLICY = Policy("commands.list")
CANCEL_POLICY = Policy("commands.cancel", auth=False)
BATCH = 100
MAX_SCANNED = 500
OWNER_PATTERN = r"^((user|key):)?[A-Za-z0-9_-]{1,64}$"


class CommandSummary(BaseModel):
    """A command as ``GET /commands`` lists it: no outcome, no hooks (read the document)."""

    command_id: str
    name: str
    status: CommandStatus
    attempts: int
    submitted_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    not_before: datetime | None = None
    deadline: datetime | None = None

    @classmethod
    def of(cls, document: CommandDocument) -> CommandSummary:
        return cls.model_validate(document.model_dump(include=set(cls.model_fields)))


class CommandPage(BaseModel):
    items: list[CommandSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null: the end")


class CommandListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: CommandStatus | None = None
    name: str | None = Field(None, max_length=200, description="a command name: wallet.deposit")
    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    cursor: str | None = Field(None, max_length=100, description="`next_cursor` of the last page")
    owner: str | None = Field(
        None,
        pattern=OWNER_PATTERN,
        description="whose commands (`user:<id>`, `key:<id>`, or a user id); admins and "
        "operators only",
    )


def command_routes(cancellable: Collection[str]) -> list[Route]:
    """``cancellable``: the names of commands whose routes may be cancelled while running."""

    async def cancel(request: Request) -> Response:
        return await cancel_command(request, cancellable)

    return [
        Route("/commands", list_commands, methods=["GET"]),
        Route("/commands/{command_id}", command_document, methods=["GET"]),
        Route("/commands/{command_id}/cancel", cancel, methods=["POST"]),
    ]


async def list_commands(request: Request) -> Response:
    """``GET /commands``: the caller's commands (or an owner's, for operators), newest first."""
    services = services_of(request)
    caller = await services.gate.admit(request, LIST_POLICY)
    query = CommandListQuery.model_validate(
        validate(CommandListQuery, check_query(request.query_params, CommandListQuery))
    )
    owner = _owner(caller.actor, query.owner, services.roles.has_permission)
    items, last = await _page(request, owner, query)
    page = CommandPage(items=items, next_cursor=_encode(last) if last else None)
    return JSONResponse(page.model_dump(mode="json"))


def _owner(actor: Actor, asked: str | None, allowed: Callable[[Actor, str], bool]) -> str:
    if asked is None:
        return actor.principal
    if not allowed(actor, READ_ANY_COMMAND):
        raise Forbidden(f"owner: listing another caller's commands needs {READ_ANY_COMMAND}")
    return asked if ":" in asked else f"user:{asked}"


async def _page(
    request: Request, owner: str, query: CommandListQuery
) -> tuple[list[CommandSummary], str | None]:
    """The page's items, and the last id it read (None: nothing older is left)."""
    state = services_of(request).state
    before = _decode(query.cursor) if query.cursor else None
    items: list[CommandSummary] = []
    for _ in range(MAX_SCANNED // BATCH):
        batch = await state.owned(owner, before, BATCH)
        for command_id, document in batch:
            if document is not None and _matches(document, query):
                items.append(CommandSummary.of(document))
                if len(items) == query.limit:
                    return items, command_id
        if len(batch) < BATCH:
            return items, None
        before = batch[-1][0]
    return items, before


def _matches(document: CommandDocument, query: CommandListQuery) -> bool:
    return (query.status is None or document.status is query.status) and (
        query.name is None or document.name == query.name
    )


def _encode(command_id: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(command_id)).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        command_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).hex()
    except (binascii.Error, ValueError):
        command_id = ""
    if not is_id(command_id):
        raise BadRequest("cursor: not a cursor this API gave", field="cursor")
    return command_id


async def cancel_command(request: Request, cancellable: Collection[str]) -> Response:
    """``POST /commands/{id}/cancel``: its submitter's (or an admin's) cancel."""
    services = services_of(request)
    caller = await services.gate.admit(request, CANCEL_POLICY)
    document = await readable_document(request, caller.actor)
    if not (
        is_submitter(caller.actor, request, document)
        or services.roles.has_permission(caller.actor, CANCEL_ANY_COMMAND)
    ):
        raise Forbidden(f"only its submitter (or {CANCEL_ANY_COMMAND}) may cancel a command")
    if document.status is CommandStatus.CANCELLED:  # asked twice: the same answer
        return JSONResponse(document.public())
    done = await services.state.cancel(document.command_id, document.name in cancellable)
    if done is None:
        raise NotFound(f"no command {document.command_id}")
    if done.action is CancelAction.REFUSED:
        raise Conflict(_refusal(done.previous), command_status=str(done.previous))
    if done.action is CancelAction.CANCELLED:
        services.history.cancelled(document.command_id)
    after = await readable_document(request, caller.actor)
    code = 200 if done.action is CancelAction.CANCELLED else 202
    return JSONResponse(after.public(), status_code=code)


def _refusal(status: CommandStatus) -> str:
    if status is CommandStatus.RUNNING:
        return "the command is running and its route is not cancellable"
    if status is CommandStatus.PUBLISHING:
        return "the command is being submitted; try again in a moment"
    return f"the command is {status} already"
