"""``GET /events``: the event catalogue as an AsyncAPI 3.0 document.

One channel per event (its address is the Celery task that carries it), with
the payload's JSON Schema as the message; one ``receive`` operation per hook,
and on each channel ``x-hooks``: the hooks that run for it, in dispatch order.
The order comes from ``modules.introspection``, which uses the same hook
registry as the workers.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api_gateway.schemas import SchemaSet
from core.celery_app import event_task_name
from events import WILDCARD, RegisteredHook
from modules.introspection import Declared

SCHEMA_PREFIX = "#/components/schemas/"


def build_asyncapi(declared: Declared, version: str) -> dict[str, Any]:
    schemas = SchemaSet(SCHEMA_PREFIX)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for name, spec in declared.catalogue.items():
        hooks = declared.hooks_for(name)
        channels[name] = {
            "address": event_task_name(name),
            "title": name,
            "description": spec.description,
            "messages": {
                name: {"name": name, "payload": schemas.ref(spec.payload, "serialization")}
            },
            "x-emitted-by": spec.emitted_by,
            "x-hooks": [_hook_entry(order, hook) for order, hook in enumerate(hooks, start=1)],
        }
        for order, hook in enumerate(hooks, start=1):
            operations[_operation_id(name, hook)] = _operation(name, order, hook)
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Hookline events",
            "version": version,
            "description": "Every event with its payload schema and its hooks in dispatch order "
            "(priority, lower first; ties in module load order).",
        },
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
    document: dict[str, Any] = request.app.state.asyncapi
    return JSONResponse(document)
