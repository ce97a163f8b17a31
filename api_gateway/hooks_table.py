"""``GET /hooks`` (``hooks:read``: operators, admins): every event with its hooks in
dispatch order. ``GET /events`` shows the same hooks to the same callers only."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api_gateway.admission import Policy
from api_gateway.commands import services_of
from core.security import READ_HOOKS
from modules.introspection import Declared

HOOKS_POLICY = Policy("hooks.read", permission=READ_HOOKS)


def hooks_table(found: Declared) -> dict[str, list[dict[str, Any]]]:
    return {
        event: [
            {
                "module": hook.module,
                "handler": hook.handler_name,
                "priority": hook.priority,
                "context": hook.context,
                "critical": hook.critical,
            }
            for hook in found.hooks_for(event)
        ]
        for event in found.catalogue
    }


async def hooks_endpoint(request: Request) -> Response:
    await services_of(request).gate.admit(request, HOOKS_POLICY)
    table: dict[str, list[dict[str, Any]]] = request.app.state.hooks_table
    return JSONResponse(table)
