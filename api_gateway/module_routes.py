"""HTTP routes built from module declarations: commands go on the bus, queries read Redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as HttpRoute

from api_gateway.admission import Policy
from api_gateway.bodies import check_json, check_query, read_json, validate
from api_gateway.commands import new_command, services_of, submit_for, submit_waiting
from api_gateway.rate_limits import parse_limits
from core.read_models import SHARED_KEY, caller_key
from events import InvalidInput, RegistrationError, sensitive_fields, serial_key
from modules import BaseModule, ReadModelKind, Route, RouteMode

Endpoint = Callable[[Request], Awaitable[Response]]


def build_routes(
    classes: Mapping[str, type[BaseModule]], route_limits: Mapping[str, str] | None = None
) -> list[HttpRoute]:
    """One Starlette route per declared module route; a path declared twice stops startup.

    ``route_limits`` (command name → limit) replaces the limits modules declared.
    """
    overrides = dict(route_limits or {})
    routes: list[HttpRoute] = []
    seen: dict[tuple[str, str], str] = {}
    for cls in classes.values():
        for route in cls.routes:
            _claim_path(seen, route, cls.name)
            name = cls.command_name(route.handler)
            policy = _policy(name, route, overrides.pop(name, route.rate_limit))
            endpoint = (
                query_endpoint(cls, route, policy)
                if route.mode is RouteMode.QUERY
                else command_endpoint(cls, route, policy)
            )
            routes.append(HttpRoute(route.path, endpoint, methods=[route.method], name=name))
    if overrides:
        raise RegistrationError(f"route_rate_limits names no route: {sorted(overrides)[0]!r}")
    return routes


def _claim_path(seen: dict[tuple[str, str], str], route: Route, module: str) -> None:
    key = (route.method, route.path)
    if key in seen:
        raise RegistrationError(
            f"route {route.method} {route.path} is declared by {seen[key]!r} and {module!r}"
        )
    seen[key] = module


def _policy(name: str, route: Route, rate_limit: str | None) -> Policy:
    """The route's gate policy; its permission was checked when the role table was composed."""
    where = f"route {route.method} {route.path}"
    return Policy(
        name=name,
        auth=route.auth,
        permission=route.permission,
        rate_limit=parse_limits(rate_limit, where) if rate_limit else (),
        users_only=route.users_only,
    )


def command_endpoint(cls: type[BaseModule], route: Route, policy: Policy) -> Endpoint:
    name = cls.command_name(route.handler)
    sensitive = sensitive_fields(route.request) if route.request else frozenset()

    async def endpoint(request: Request) -> Response:
        caller = await services_of(request).gate.admit(request, policy)
        check_query(request.query_params, None)
        body = await read_json(request)
        path = dict(request.path_params)
        check_json(path)
        payload = validate(route.request, _merge(body, path)) if route.request else _empty(body)
        line = serial_key(route.serial_by, caller.actor) if route.serial_by else None
        command = new_command(request, name, payload, caller.actor, sensitive, serial_key=line)
        return await submit_for(request, command, caller)

    return endpoint


def query_endpoint(cls: type[BaseModule], route: Route, policy: Policy) -> Endpoint:
    """Serve the caller's read model; when it is missing (or the route has none), a query
    command answers, and rebuilds the view if there is one."""
    name = cls.command_name(route.handler)
    view = route.read_model
    is_list = route.read_model_kind is ReadModelKind.LIST

    async def endpoint(request: Request) -> Response:
        services = services_of(request)
        caller = await services.gate.admit(request, policy)
        actor = caller.actor
        query = check_query(request.query_params, route.request)
        path = dict(request.path_params)
        check_json(path)
        params = validate(route.request, {**query, **path}) if route.request else {}
        if view is not None:
            key = SHARED_KEY if route.shared_read_model else caller_key(actor)
            if is_list:
                page = await services.read_models.page(cls.name, view, key, **params)
                found = None if page is None else page.model_dump(mode="json")
            else:
                found = await services.read_models.get(cls.name, view, key)
            if found is not None:
                return JSONResponse(found)
        command = new_command(request, name, params, actor)
        return await submit_waiting(request, command, caller)

    return endpoint


def _empty(body: object) -> dict[str, object]:
    """A route that takes no body refuses one with fields in it."""
    if body not in ({}, None):
        raise InvalidInput("body: this route takes no body", field="body")
    return {}


def _merge(body: object, path: dict[str, str]) -> object:
    """The body with the path's parameters; the path wins, so a body cannot retarget it."""
    if not path:
        return body
    return {**body, **path} if isinstance(body, dict) else body
