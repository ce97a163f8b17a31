"""Admin routes: dead letters listed, shown (``dead_letters:read``) and replayed
(``dead_letters:manage``).

The gateway reads no MongoDB collection but the command history: each route
submits an admin command on the bus and answers with its result once a worker
ran it (or 202 if none did within the longest wait). The worker checks the permission again
(``workers.platform_commands``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api_gateway.admission import Caller, Policy
from api_gateway.bodies import check_query, validate
from api_gateway.commands import new_command, services_of, submit_waiting
from events import Command, DeadLetterQuery, DeadLetterRef
from events.platform_commands import (
    LIST_DEAD_LETTERS,
    PERMISSION_OF,
    REPLAY_DEAD_LETTER,
    SHOW_DEAD_LETTER,
)


def admin_routes() -> list[Route]:
    return [
        Route("/admin/dead-letters", list_dead_letters, methods=["GET"]),
        Route("/admin/dead-letters/{letter_id}", show_dead_letter, methods=["GET"]),
        Route("/admin/dead-letters/{letter_id}/replay", replay_dead_letter, methods=["POST"]),
    ]


async def list_dead_letters(request: Request) -> Response:
    """``GET /admin/dead-letters?status=&limit=&before=``: newest first."""
    caller = await _admitted(request, LIST_DEAD_LETTERS)
    payload = validate(DeadLetterQuery, check_query(request.query_params, DeadLetterQuery))
    return await _run(
        request, caller, new_command(request, LIST_DEAD_LETTERS, payload, caller.actor)
    )


async def show_dead_letter(request: Request) -> Response:
    caller = await _admitted(request, SHOW_DEAD_LETTER)
    payload = validate(DeadLetterRef, {"id": request.path_params["letter_id"]})
    return await _run(
        request, caller, new_command(request, SHOW_DEAD_LETTER, payload, caller.actor)
    )


async def replay_dead_letter(request: Request) -> Response:
    """Send the letter's envelope again; answers the letter, now ``replaying``."""
    caller = await _admitted(request, REPLAY_DEAD_LETTER)
    payload = validate(DeadLetterRef, {"id": request.path_params["letter_id"]})
    return await _run(
        request, caller, new_command(request, REPLAY_DEAD_LETTER, payload, caller.actor)
    )


POLICIES = {name: Policy(name, permission=PERMISSION_OF[name]) for name in PERMISSION_OF}


async def _admitted(request: Request, command: str) -> Caller:
    """The caller, admitted by the gate only with the permission ``command`` needs."""
    return await services_of(request).gate.admit(request, POLICIES[command])


async def _run(request: Request, caller: Caller, command: Command) -> Response:
    return await submit_waiting(request, command, caller)
