"""``GET /openapi.json``: the HTTP interface, generated from the module declarations.

Every declared route becomes an operation: its request model (a JSON body, or
query parameters for a query route), its responses (``202`` accepted, the
outcome's status and model when the client waits, the problem documents it can
answer with), and bearer auth where the route needs it. Platform routes are
described in ``openapi_platform.py``.
"""

from __future__ import annotations

import re
from importlib import metadata
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from api_gateway.idempotency import KEY_PATTERN
from api_gateway.openapi_platform import AcceptedCommand, platform_paths
from api_gateway.schemas import SchemaSet, query_parameters
from events import PROBLEM_MEDIA_TYPE, Problem
from modules import BaseModule, Route, RouteMode
from modules.introspection import Declared

SCHEMA_PREFIX = "#/components/schemas/"
BEARER = "bearerAuth"

PROBLEM_DESCRIPTIONS = {
    400: "The request or the command was refused (for a body that is not JSON, for one).",
    401: "No valid bearer token, or wrong credentials.",
    403: "The caller lacks the permission the route needs.",
    404: "Something the command names does not exist.",
    409: "The command conflicts with the current state.",
    413: "The body is too large.",
    415: "The body is not application/json.",
    422: "The input is invalid; `errors` (or `field`) names each field, `Idempotency-Key` "
    "when the key was used with another request.",
    429: "Too many requests; wait as `Retry-After` says.",
    503: "The broker or a store is unavailable; try again after `Retry-After` seconds.",
}
COMMAND_PROBLEMS = (400, 401, 403, 404, 409, 413, 415, 422, 429, 503)
QUERY_PROBLEMS = (400, 401, 403, 404, 409, 422, 429, 503)


def api_version() -> str:
    try:
        return metadata.version("hookline")
    except metadata.PackageNotFoundError:
        return "0"


def build_openapi(declared: Declared) -> dict[str, Any]:
    """The OpenAPI 3.1 document for the modules in ``declared`` and the platform routes."""
    schemas = SchemaSet(SCHEMA_PREFIX)
    paths: dict[str, dict[str, Any]] = {}
    for cls in declared.classes.values():
        for route in cls.routes:
            paths.setdefault(route.path, {})[route.method.lower()] = _operation(cls, route, schemas)
    paths.update(platform_paths(schemas))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hookline",
            "version": api_version(),
            "description": "Commands go on the bus and answer 202; `Prefer: wait=N` waits for "
            "the outcome. Every error is an RFC 9457 problem document.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas.components,
            "securitySchemes": {
                BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _operation(cls: type[BaseModule], route: Route, schemas: SchemaSet) -> dict[str, Any]:
    query = route.mode is RouteMode.QUERY
    operation: dict[str, Any] = {
        "operationId": cls.command_name(route.handler),
        "summary": route.summary or route.handler,
        "tags": [cls.name],
        "responses": _responses(route, schemas, query),
    }
    if cls.description:
        operation["description"] = cls.description
    if query or route.auth:
        operation["security"] = [{BEARER: []}]
    path_parameters = _path_parameters(route.path)
    if query:
        operation["parameters"] = path_parameters + _query_parameters(route)
    else:
        operation["parameters"] = [
            *path_parameters,
            _prefer_header(),
            IDEMPOTENCY_KEY_PARAMETER,
            *TIMING_PARAMETERS,
        ]
        if route.request is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schemas.ref(route.request)}},
            }
    return operation


def _responses(route: Route, schemas: SchemaSet, query: bool) -> dict[str, Any]:
    outcome: dict[str, Any] = {
        "description": "The read model, or the command's outcome"
        if query
        else "The command's outcome, when the client sent `Prefer: wait=N` and it finished",
    }
    if route.response is not None:
        outcome["content"] = {
            "application/json": {"schema": schemas.ref(route.response, "serialization")}
        }
    else:
        outcome["content"] = {"application/json": {"schema": {}}}
    accepted = accepted_response(schemas, query)
    if not route.auth:
        claim = {"Command-Claim": CLAIM_RESPONSE_HEADER}
        accepted["headers"] = {**accepted["headers"], **claim}
        outcome["headers"] = claim
    if not query:
        replayed = {"Idempotent-Replayed": REPLAYED_RESPONSE_HEADER}
        outcome["headers"] = {**outcome.get("headers", {}), **replayed}
        accepted["headers"] = {**accepted["headers"], **replayed}
    responses: dict[str, Any] = {str(route.success_status): outcome, "202": accepted}
    for status in QUERY_PROBLEMS if query else COMMAND_PROBLEMS:
        responses[str(status)] = problem_response(schemas, PROBLEM_DESCRIPTIONS[status])
    if not query:
        responses["409"] = key_in_use_response(schemas)
    return responses


IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes a retry safe (draft-ietf-httpapi-idempotency-key-header): the "
    "same request repeated with the same key runs its command once. 1 to 255 printable "
    'ASCII characters, as a quoted string (`"…"`, the draft\'s form) or bare (then without '
    "spaces, quotes, backslashes or commas); a UUID is a good key. A key is the caller's "
    "own and this route's: the same key from another caller, or on another route, is "
    "another command. It expires `HOOKLINE_IDEMPOTENCY_TTL_S` seconds after its first use "
    "(24 hours by default; repeating the request does not extend it), and then starts a "
    "new command. A repeat while the first request's command is in flight is 409 with "
    "`Location` and `Retry-After`, or with `Prefer: wait=N` waits for it, answering 202 "
    "with its status if the wait runs out; once it finished, its outcome is replayed, "
    "status and body, with `Idempotent-Replayed: true` (tokens or keys it handed over "
    "already are left out). The same key with another body is 422.",
    "schema": {"type": "string", "pattern": KEY_PATTERN},
    "example": '"8e03978e-40d5-43e8-bc93-6894a57f9324"',
}

_TIMING = "an RFC 3339 date-time with its offset, or whole seconds from now"
TIMING_PARAMETERS = [
    {
        "name": "Command-Not-Before",
        "in": "header",
        "required": False,
        "description": f"Start no earlier than this ({_TIMING}); within the schedule's "
        "horizon (`HOOKLINE_SCHEDULE_HORIZON_S`, 30 days by default). A moment still to "
        "come answers 202 `scheduled`. Anything else is a 400 naming the header.",
        "schema": {"type": "string"},
        "example": "2026-12-24T18:00:00Z",
    },
    {
        "name": "Command-Deadline",
        "in": "header",
        "required": False,
        "description": f"Not started by then ({_TIMING}), the command is `expired` and "
        "never runs. It must lie ahead, after any `Command-Not-Before`.",
        "schema": {"type": "string"},
        "example": "300",
    },
]

REPLAYED_RESPONSE_HEADER = {
    "required": False,
    "description": "`true`: the answer is that of the command an earlier request with this "
    "`Idempotency-Key` caused; no new command was made.",
    "schema": {"type": "string", "enum": ["true"]},
}


def key_in_use_response(schemas: SchemaSet) -> dict[str, Any]:
    """409 on a command route: a conflict with the state, or a key whose request is in flight."""
    response = problem_response(
        schemas,
        PROBLEM_DESCRIPTIONS[409] + " Or the first request with this `Idempotency-Key` is "
        "still in flight (`field` names the header): `Location` is its command; repeat the "
        "request after `Retry-After` seconds.",
    )
    response["headers"] = {
        "Location": {"required": False, "schema": {"type": "string"}},
        "Retry-After": {"required": False, "schema": {"type": "string"}},
    }
    return response


CLAIM_RESPONSE_HEADER = {
    "required": False,
    "description": "Sent when the caller is anonymous: the command is read with this claim, "
    "sent back as the `Command-Claim` request header; by id alone it is a 404. Shown once, "
    "never stored.",
    "schema": {"type": "string", "format": "password"},
}


def accepted_response(schemas: SchemaSet, query: bool) -> dict[str, Any]:
    description = (
        "The read model is being rebuilt; follow `Location`"
        if query
        else "Accepted: the command is on the bus; follow `Location`"
    )
    return {
        "description": description,
        "headers": {
            "Location": {"required": True, "schema": {"type": "string"}},
        },
        "content": {"application/json": {"schema": schemas.ref(AcceptedCommand, "serialization")}},
    }


def problem_response(schemas: SchemaSet, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": schemas.ref(Problem, "serialization")}},
    }


def _prefer_header() -> dict[str, Any]:
    return {
        "name": "Prefer",
        "in": "header",
        "required": False,
        "description": "`wait=N` (N ≤ 30): answer with the outcome if it comes within N "
        "seconds; a `wait` that is not ASCII digits is a 400",
        "schema": {"type": "string"},
        "example": "wait=10",
    }


def _path_parameters(path: str) -> list[dict[str, Any]]:
    """One required string parameter per ``{name}`` placeholder in the route's path."""
    return [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", path)
    ]


def _query_parameters(route: Route) -> list[dict[str, Any]]:
    """The request model's fields, but those the path gives."""
    if route.request is None:
        return []
    in_path = set(re.findall(r"{(\w+)}", route.path))
    return [p for p in query_parameters(route.request) if p["name"] not in in_path]


async def openapi_endpoint(request: Request) -> Response:
    document: dict[str, Any] = request.app.state.openapi
    return JSONResponse(document)
