"""Admin routes: dead letters listed, shown and replayed.

The gateway never reads MongoDB: each route submits an admin command on the
bus and answers with its result once a worker ran it (or 202 if none did
within the longest wait).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api_gateway.auth import authenticate_admin
from api_gateway.bodies import validate
from api_gateway.commands import new_command, services_of, submit
from events import Command, DeadLetterQuery, DeadLetterRef
from events.admin import LIST_DEAD_LETTERS, REPLAY_DEAD_LETTER, SHOW_DEAD_LETTER


def admin_routes() -> list[Route]:
    return [
        Route("/admin/dead-letters", list_dead_letters, methods=["GET"]),
        Route("/admin/dead-letters/{letter_id}", show_dead_letter, methods=["GET"]),
        Route("/admin/dead-letters/{letter_id}/replay", replay_dead_letter, methods=["POST"]),
    ]


async def list_dead_letters(request: Request) -> Response:
    """``GET /admin/dead-letters?status=&limit=&before=``: newest first."""
    actor = authenticate_admin(request, services_of(request).tokens)
    payload = validate(DeadLetterQuery, dict(request.query_params))
    return await _run(request, new_command(request, LIST_DEAD_LETTERS, payload, actor))


async def show_dead_letter(request: Request) -> Response:
    actor = authenticate_admin(request, services_of(request).tokens)
    payload = validate(DeadLetterRef, {"id": request.path_params["letter_id"]})
    return await _run(request, new_command(request, SHOW_DEAD_LETTER, payload, actor))


async def replay_dead_letter(request: Request) -> Response:
    """Send the letter's envelope again; answers the letter, now ``replaying``."""
    actor = authenticate_admin(request, services_of(request).tokens)
    payload = validate(DeadLetterRef, {"id": request.path_params["letter_id"]})
    return await _run(request, new_command(request, REPLAY_DEAD_LETTER, payload, actor))


async def _run(request: Request, command: Command) -> Response:
    return await submit(request, command, services_of(request).settings.max_wait_s)
