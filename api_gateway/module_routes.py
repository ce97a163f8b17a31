"""HTTP routes built from module declarations: commands go on the bus, queries read Redis."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route as HttpRoute

from api_gateway.auth import authenticate
from api_gateway.bodies import read_json, validate
from api_gateway.commands import new_command, services_of, submit
from events import Forbidden, RegistrationError
from modules import BaseModule, ReadModelKind, Route, RouteMode

Endpoint = Callable[[Request], Awaitable[Response]]


def build_routes(classes: Mapping[str, type[BaseModule]]) -> list[HttpRoute]:
    """One Starlette route per declared module route; a path declared twice stops startup."""
    routes: list[HttpRoute] = []
    seen: dict[tuple[str, str], str] = {}
    for cls in classes.values():
        for route in cls.routes:
            key = (route.method, route.path)
            if key in seen:
                raise RegistrationError(
                    f"route {route.method} {route.path} is declared by "
                    f"{seen[key]!r} and {cls.name!r}"
                )
            seen[key] = cls.name
            endpoint = (
                query_endpoint(cls, route)
                if route.mode is RouteMode.QUERY
                else command_endpoint(cls, route)
            )
            routes.append(
                HttpRoute(
                    route.path,
                    endpoint,
                    methods=[route.method],
                    name=cls.command_name(route.handler),
                )
            )
    return routes


def command_endpoint(cls: type[BaseModule], route: Route) -> Endpoint:
    name = cls.command_name(route.handler)

    async def endpoint(request: Request) -> Response:
        actor = authenticate(request, services_of(request).tokens, required=route.auth)
        check_permission(route, actor.roles)
        payload = validate(route.request, await read_json(request)) if route.request else {}
        return await submit(request, new_command(request, name, payload, actor))

    return endpoint


def query_endpoint(cls: type[BaseModule], route: Route) -> Endpoint:
    """Serve the caller's read model; when it is missing, a query command rebuilds it."""
    name = cls.command_name(route.handler)
    view = route.read_model or ""
    is_list = route.read_model_kind is ReadModelKind.LIST

    async def endpoint(request: Request) -> Response:
        services = services_of(request)
        actor = authenticate(request, services.tokens, required=True)
        check_permission(route, actor.roles)
        params = validate(route.request, dict(request.query_params)) if route.request else {}
        key = actor.user_id or actor.principal
        if is_list:
            page = await services.read_models.page(cls.name, view, key, **params)
            found = None if page is None else page.model_dump(mode="json")
        else:
            found = await services.read_models.get(cls.name, view, key)
        if found is not None:
            return JSONResponse(found)
        command = new_command(request, name, params, actor)
        return await submit(request, command, services.settings.max_wait_s)

    return endpoint


def check_permission(route: Route, roles: tuple[str, ...]) -> None:
    if route.permission is not None and route.permission not in roles and "admin" not in roles:
        raise Forbidden(f"this route needs the {route.permission!r} permission")
