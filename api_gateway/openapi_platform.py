"""The platform routes' part of the OpenAPI document, with models of their bodies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from api_gateway.command_routes import CommandListQuery, CommandPage
from api_gateway.schemas import SchemaSet, query_parameters
from api_gateway.stream import StatusChange
from core.command_state import CommandDocument
from core.security import READ_ANY_COMMAND
from events import PROBLEM_MEDIA_TYPE, HookRun, Problem
from events.envelopes import ID_PATTERN


class AcceptedCommand(BaseModel):
    command_id: str
    # "accepted" when just submitted ("scheduled" with a Command-Not-Before still to come); a
    # repeated request may find it at any unfinished status.
    status: Literal["publishing", "scheduled", "accepted", "running", "retrying"]
    status_url: str


class HealthChecks(BaseModel):
    """Each part's state and nothing more (why one is down goes to the gateway's log)."""

    redis: Literal["ok", "down"]
    broker: Literal["ok", "down"]
    # As the workers see it: unknown while none reports.
    mongo: Literal["ok", "down", "unknown"]
    workers: int


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: HealthChecks


class ModuleHealthBody(BaseModel):
    status: str
    details: dict[str, Any]


class ModuleStatus(BaseModel):
    name: str
    state: str
    reason: str
    health: ModuleHealthBody


class ModulesStatus(BaseModel):
    workers: int
    load_order: list[str]
    modules: list[ModuleStatus]


class ModuleHealth(ModuleHealthBody):
    name: str
    state: str


def _json(schemas: SchemaSet, model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schemas.ref(model, "serialization")}},
    }


def _problem(schemas: SchemaSet, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": schemas.ref(Problem, "serialization")}},
    }


CLAIM_PARAMETER = {
    "name": "Command-Claim",
    "in": "header",
    "required": False,
    "description": "Reads an anonymous command: the claim its answer carried. Without it an "
    "anonymous command is a 404.",
    "schema": {"type": "string", "format": "password"},
}
_INTERNAL_FIELDS = ("owner", "claims")


def _command_document(schemas: SchemaSet) -> dict[str, Any]:
    """``CommandDocument`` as the client sees it: without the internal owner and claims."""
    schema = schemas.ref(CommandDocument, "serialization")
    name = schema["$ref"].rsplit("/", 1)[1]
    public = dict(schemas.components[name])
    public["properties"] = {
        k: v for k, v in public["properties"].items() if k not in _INTERNAL_FIELDS
    }
    public["required"] = [k for k in public.get("required", []) if k not in _INTERNAL_FIELDS]
    public["title"] = "Command"
    del schemas.components[name]
    schemas.components["Command"] = public
    return {
        "description": "The command: status, outcome, and the hooks it caused in execution order",
        "content": {
            "application/json": {"schema": {"$ref": schema["$ref"].replace(name, "Command")}}
        },
    }


def _sse_event(name: str, data_schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": name},
            "id": {"type": "string"},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": data_schema,
            },
        },
    }


def _event_stream(schemas: SchemaSet, command: dict[str, Any]) -> dict[str, Any]:
    """One schema per event: ``status``, ``hook`` and ``done`` (and ``gone`` if it expired)."""
    events = [
        _sse_event("status", schemas.ref(StatusChange, "serialization")),
        _sse_event("hook", schemas.ref(HookRun, "serialization")),
        _sse_event("done", command),
        _sse_event("gone", {"type": "object"}),
    ]
    return {
        "description": "The event stream; each event's data is one line of JSON",
        "content": {"text/event-stream": {"schema": {"oneOf": events}}},
    }


def _get(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"get": {"summary": summary, "tags": ["platform"], "responses": responses, **extra}}


def _text(media_type: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}


def platform_paths(schemas: SchemaSet) -> dict[str, Any]:
    command_id = [
        {
            "name": "command_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": ID_PATTERN},
        },
        CLAIM_PARAMETER,
    ]
    optional_auth: list[dict[str, list[str]]] = [{}, {"bearerAuth": []}]
    not_found = _problem(schemas, "No such command, or not the caller's")
    gone = _problem(schemas, "The command is past its TTL (its id tells its age)")
    command = _command_document(schemas)

    def guarded(permission: str) -> dict[str, Any]:
        """What an operator route that needs ``permission`` answers when refused."""
        return {
            "401": _problem(schemas, "No valid bearer token or API key"),
            "403": _problem(schemas, f"The caller lacks the {permission!r} permission"),
            "429": _problem(schemas, "Too many requests; wait as `Retry-After` says"),
        }

    operator_auth: list[dict[str, list[str]]] = [{"bearerAuth": []}]
    return {
        "/health": _get(
            "Redis, MongoDB and at least one worker answer",
            {
                "200": _json(schemas, Health, "Everything answers"),
                "503": _json(schemas, Health, "Something is down; `checks` names it"),
            },
        ),
        "/modules/status": _get(
            "Module load order, states and health, as the freshest worker reports them "
            "(health:read)",
            {
                "200": _json(schemas, ModulesStatus, "The modules"),
                "503": _json(schemas, ModulesStatus, "No worker reports"),
                **guarded("health:read"),
            },
            security=operator_auth,
        ),
        "/modules/{name}/health": _get(
            "One module's health (health:read)",
            {
                "200": _json(schemas, ModuleHealth, "Healthy"),
                "503": _json(schemas, ModuleHealth, "Degraded or unhealthy"),
                "404": _problem(schemas, "No worker reports this module"),
                **guarded("health:read"),
            },
            security=operator_auth,
            parameters=[
                {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
        ),
        "/commands": _get(
            "The caller's commands, newest first (admins and operators: anyone's, `owner`)",
            {
                "200": _json(schemas, CommandPage, "A page; `next_cursor` is null at the end"),
                "400": _problem(schemas, "A cursor this API did not give"),
                "422": _problem(schemas, "A parameter is invalid; `errors` names it"),
                "401": _problem(schemas, "No valid bearer token or API key"),
                "403": _problem(schemas, f"`owner` without the {READ_ANY_COMMAND!r} permission"),
                "429": _problem(schemas, "Too many requests; wait as `Retry-After` says"),
            },
            parameters=query_parameters(CommandListQuery),
            security=operator_auth,
        ),
        "/commands/{command_id}": _get(
            "A command's status, outcome and hook trace (owner or admin)",
            {
                "200": _command_document(schemas),
                "401": _problem(schemas, "Invalid token"),
                "404": not_found,
                "410": gone,
            },
            parameters=command_id,
            security=optional_auth,
        ),
        "/commands/{command_id}/cancel": {
            "post": {
                "summary": "Cancel a command that has not started (a running one of a "
                "cancellable route stops at its next checkpoint)",
                "tags": ["platform"],
                "responses": {
                    "200": {**command, "description": "Cancelled: it never runs"},
                    "202": {**command, "description": "Running: asked to stop"},
                    "401": _problem(schemas, "Invalid token"),
                    "403": _problem(schemas, "Readable, but not the caller's to cancel"),
                    "404": not_found,
                    "409": _problem(schemas, "Finished already, or running and not cancellable"),
                    "410": gone,
                    "429": _problem(schemas, "Too many requests; wait as `Retry-After` says"),
                },
                "parameters": command_id,
                "security": optional_auth,
            }
        },
        "/commands/{command_id}/stream": _get(
            "Server-Sent Events: `status`, `hook`, then `done`, and the stream ends",
            {
                "200": _event_stream(schemas, command["content"]["application/json"]["schema"]),
                "401": _problem(schemas, "Invalid token"),
                "404": not_found,
                "410": gone,
                "429": _problem(schemas, "Too many open waits and streams; see `Retry-After`"),
            },
            parameters=command_id,
            security=optional_auth,
        ),
        "/metrics": _get(
            "The gateway's metrics (metrics:read)",
            {
                "200": _text("text/plain", "Prometheus text exposition format"),
                **guarded("metrics:read"),
            },
            security=operator_auth,
        ),
        "/openapi.json": _get(
            "This document",
            {
                "200": {
                    "description": "OpenAPI 3.1",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        ),
        "/events": _get(
            "The event catalogue as an AsyncAPI 3 document: payload schemas; the hooks in "
            "order for a caller holding hooks:read",
            {
                "200": {
                    "description": "AsyncAPI 3.0",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
            security=optional_auth,
        ),
    }
