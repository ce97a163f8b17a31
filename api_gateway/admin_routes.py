"""Admin routes: dead letters listed, shown (``dead_letters:read``) and replayed
(``dead_letters:manage``).

The gateway never reads MongoDB: each route submits an admin command on the
bus and answers with its result once a worker ran it (or 202 if none did
within the longest wait). The worker checks the permission again
(``workers.admin``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api_gateway.admission import Policy
from api_gateway.bodies import validate
from api_gateway.commands import new_command, services_of, submit
from events import Actor, Command, DeadLetterQuery, DeadLetterRef
from events.admin import LIST_DEAD_LETTERS, PERMISSION_OF, REPLAY_DEAD_LETTER, SHOW_DEAD_LETTER


def admin_routes() -> list[Route]:
    return [
        Route("/admin/dead-letters", list_dead_letters, methods=["GET"]),
        Route("/admin/dead-letters/{letter_id}", show_dead_letter, methods=["GET"]),
        Route("/admin/dead-letters/{letter_id}/replay", replay_dead_letter, methods=["POST"]),
    ]


async def list_dead_letters(request: Request) -> Response:
    """``GET /admin/dead-letters?status=&limit=&before=``: newest first."""
    actor = await _admitted(request, LIST_DEAD_LETTERS)
    payload = validate(DeadLetterQuery, dict(request.query_params))
    return await _run(request, new_command(request, LIST_DEAD_LETTERS, payload, actor))


async def show_dead_letter(request: Request) -> Response:
    actor = await _admitted(request, SHOW_DEAD_LETTER)
    payload = validate(DeadLetterRef, {"id": request.path_params["letter_id"]})
    return await _run(request, new_command(request, SHOW_DEAD_LETTER, payload, actor))


async def replay_dead_letter(request: Request) -> Response:
    """Send the letter's envelope again; answers the letter, now ``replaying``."""
    actor = await _admitted(request, REPLAY_DEAD_LETTER)
    payload = validate(DeadLetterRef, {"id": request.path_params["letter_id"]})
    return await _run(request, new_command(request, REPLAY_DEAD_LETTER, payload, actor))


POLICIES = {name: Policy(name, permission=PERMISSION_OF[name]) for name in PERMISSION_OF}


async def _admitted(request: Request, command: str) -> Actor:
    """The caller, admitted by the gate only with the permission ``command`` needs."""
    caller = await services_of(request).gate.admit(request, POLICIES[command])
    return caller.actor


async def _run(request: Request, command: Command) -> Response:
    return await submit(request, command, services_of(request).settings.max_wait_s)
