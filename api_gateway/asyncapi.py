"""``GET /events``: the event catalogue as an AsyncAPI 3.0 document.

One channel per event (its address is the Celery task that carries it), with
the payload's JSON Schema as the message. That much is public API
documentation. Which modules' handlers subscribe, in which order, with which
priority and whether they are critical is internal, as ``GET /hooks`` is: only
a caller holding ``hooks:read`` also gets one ``receive`` operation per hook
and on each channel ``x-hooks``, the hooks that run for it in dispatch order.
The order comes from ``modules.introspection``, which uses the same hook
registry as the workers.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api_gateway.admission import Policy
from api_gateway.commands import services_of
from api_gateway.schemas import SchemaSet
from core.celery_app import event_task_name
from core.security import READ_HOOKS
from events import WILDCARD, RegisteredHook
from modules.introspection import Declared

SCHEMA_PREFIX = "#/components/schemas/"
EVENTS_POLICY = Policy("events.read", auth=False)


def build_asyncapi(declared: Declared, version: str, with_hooks: bool = True) -> dict[str, Any]:
    """The catalogue; ``with_hooks`` adds who subscribes (for holders of ``hooks:read``)."""
    schemas = SchemaSet(SCHEMA_PREFIX)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for name, spec in declared.catalogue.items():
        channels[name] = {
            "address": event_task_name(name),
            "title": name,
            "description": spec.description,
            "messages": {
                name: {"name": name, "payload": schemas.ref(spec.payload, "serialization")}
            },
            "x-emitted-by": spec.emitted_by,
        }
        if not with_hooks:
            continue
        hooks = declared.hooks_for(name)
        channels[name]["x-hooks"] = [
            _hook_entry(order, hook) for order, hook in enumerate(hooks, start=1)
        ]
        for order, hook in enumerate(hooks, start=1):
            operations[_operation_id(name, hook)] = _operation(name, order, hook)
    described = (
        "Every event with its payload schema and its hooks in dispatch order "
        "(priority, lower first; ties in module load order)."
        if with_hooks
        else "Every event with its payload schema."
    )
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "Hookline events", "version": version, "description": described},
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas.components},
        "x-load-order": list(declared.order),
    }


def _hook_entry(order: int, hook: RegisteredHook) -> dict[str, Any]:
    return {
        "order": order,
        "hook": hook.key,
        "module": hook.module,
        "handler": hook.handler_name,
        "priority": hook.priority,
        "context": hook.context,
        "critical": hook.critical,
        "wildcard": hook.event == WILDCARD,
    }


def _operation_id(event: str, hook: RegisteredHook) -> str:
    return f"{event}__{hook.module}__{hook.handler_name}"


def _operation(event: str, order: int, hook: RegisteredHook) -> dict[str, Any]:
    return {
        "action": "receive",
        "channel": {"$ref": f"#/channels/{event}"},
        "title": hook.key,
        "summary": hook.context or hook.key,
        "x-order": order,
        "x-priority": hook.priority,
    }


async def events_endpoint(request: Request) -> Response:
    """The catalogue, with its hooks for a caller holding ``hooks:read``."""
    services = services_of(request)
    caller = await services.gate.admit(request, EVENTS_POLICY)
    full = services.roles.has_permission(caller.actor, READ_HOOKS)
    document: dict[str, Any] = (
        request.app.state.asyncapi if full else request.app.state.asyncapi_public
    )
    return JSONResponse(document)
