"""Roles map to permissions; API keys hold scopes; routes must name known permissions."""

from __future__ import annotations

import pytest

from api_gateway.module_routes import build_routes
from core.security.permissions import (
    ADMIN_PERMISSIONS,
    USER_PERMISSIONS,
    has_permission,
    permissions_of,
    require,
)
from events import Actor, Forbidden, RegistrationError
from modules import BaseModule, Route, discover


def test_users_get_user_permissions_only() -> None:
    """A user may deposit but not manage API keys or read other people's commands."""
    user = Actor(user_id="u", roles=("user",))
    assert permissions_of(user) == USER_PERMISSIONS
    assert not any(has_permission(user, p) for p in ADMIN_PERMISSIONS)


def test_admins_get_every_permission() -> None:
    """The admin role holds user and admin permissions."""
    assert permissions_of(Actor(user_id="a", roles=("user", "admin"))) >= ADMIN_PERMISSIONS


def test_keys_hold_their_known_scopes_only() -> None:
    """A key's scopes are its permissions; an unknown scope grants nothing."""
    key = Actor(api_key_id="k", scopes=("wallet:read", "everything:all"))
    assert permissions_of(key) == {"wallet:read"}


def test_unknown_roles_grant_nothing_and_require_names_the_permission() -> None:
    """A made-up role is worth nothing; the refusal names what was missing."""
    with pytest.raises(Forbidden) as refused:
        require(Actor(user_id="u", roles=("superuser",)), "wallet:read")
    assert refused.value.extensions == {"permission": "wallet:read"}
    require(Actor(), None)


def test_every_reference_route_needs_a_known_permission_when_authenticated() -> None:
    """Each authenticated route of the reference modules declares a permission."""
    routes = [r for cls in discover().values() for r in cls.routes if r.auth]
    assert routes and all(r.permission for r in routes)
    build_routes(discover())


def test_a_route_naming_an_unknown_permission_stops_the_gateway() -> None:
    """build_routes refuses a permission no role grants, naming the route."""

    class Odd(BaseModule):
        name = "odd"
        routes = (Route("POST", "/odd", "poke", permission="odd:poke"),)

    with pytest.raises(RegistrationError, match=r"POST /odd: unknown permission 'odd:poke'"):
        build_routes({"odd": Odd})


def test_a_rate_limit_override_for_no_route_stops_the_gateway() -> None:
    """A typo in route_rate_limits is a start-up error, not a silent no-op."""
    with pytest.raises(RegistrationError, match=r"user_management\.logn"):
        build_routes(discover(), {"user_management.logn": "1/minute"})


def test_route_declarations_check_permission_and_rate_limit_shapes() -> None:
    """A permission must read 'area:action' and a rate limit like '5/minute'."""
    with pytest.raises(RegistrationError, match="not 'area:action'"):
        Route("POST", "/x", "x", permission="admin")
    with pytest.raises(RegistrationError, match="not like '5/minute'"):
        Route("POST", "/x", "x", rate_limit="5 a minute")
    Route("POST", "/x", "x", rate_limit="5 per 2 minutes; 100/day")
