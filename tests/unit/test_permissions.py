"""The role table: composed from module declarations plus the kernel's platform permissions."""

from __future__ import annotations

import pytest

from api_gateway.module_routes import build_routes
from core.security import PLATFORM_PERMISSIONS, RoleTable
from events import Actor, Forbidden, RegistrationError
from modules import BaseModule, Permission, Route, RouteMode, discover
from modules.introspection import declared

OPERATOR_PERMISSIONS = {
    "commands:read_any",
    "hooks:read",
    "dead_letters:read",
    "metrics:read",
    "health:read",
}
USER_PERMISSIONS = {
    "profile:read",
    "session:logout",
    "wallet:read",
    "wallet:deposit",
    "wallet:withdraw",
    "transactions:read",
    "transactions:transfer",
    "notifications:read",
}


def table(classes: dict[str, type[BaseModule]] | None = None) -> RoleTable:
    found = declared(discover() if classes is None else classes)
    return RoleTable.compose(found.permissions, found.permission_uses)


# The modules this repository ships: the exact grants below are theirs, so a module added to
# the tree (``hookline new-module``) adds to them without breaking this test.
REFERENCE_MODULES = (
    "user_management",
    "wallet",
    "transactions",
    "notifications",
    "audit",
    "api_keys",
)


def test_each_role_holds_what_the_declarations_give_it() -> None:
    """Users hold the modules' user permissions, operators the platform reads, admins all."""
    roles = table(discover(REFERENCE_MODULES))
    assert roles.of_roles(["user"]) == USER_PERMISSIONS
    assert roles.of_roles(["operator"]) == OPERATOR_PERMISSIONS
    admin = roles.of_roles(["admin"])
    assert admin == roles.known >= USER_PERMISSIONS | OPERATOR_PERMISSIONS
    assert {"api_keys:manage", "dead_letters:manage"} <= admin
    assert roles.owners["wallet:deposit"] == "wallet"
    assert roles.owners["dead_letters:manage"] == "platform"


def test_operators_read_but_do_not_replay_or_mint() -> None:
    """The operator role is read-only: no replay, no keys, no user actions."""
    operator = Actor(user_id="o", roles=("operator",))
    roles = table()
    assert roles.has_permission(operator, "dead_letters:read")
    for refused in ("dead_letters:manage", "api_keys:manage", "wallet:deposit"):
        assert not roles.has_permission(operator, refused)


def test_keys_hold_their_known_scopes_only() -> None:
    """A key's scopes are its permissions; an unknown scope grants nothing."""
    key = Actor(api_key_id="k", scopes=("wallet:read", "everything:all"))
    assert table().permissions_of(key) == {"wallet:read"}


def test_unknown_roles_grant_nothing_and_require_names_the_permission() -> None:
    """A made-up role is worth nothing; the refusal names what was missing."""
    with pytest.raises(Forbidden) as refused:
        table().require(Actor(user_id="u", roles=("superuser",)), "wallet:read")
    assert refused.value.extensions == {"permission": "wallet:read"}
    table().require(Actor(), None)


def test_a_new_module_brings_its_permissions_without_a_kernel_edit() -> None:
    """A module declaring `cards:send` for users: its route is allowed and users hold it."""

    class Cards(BaseModule):
        name = "cards"
        permissions = (Permission("cards:send", description="Send a card"),)
        routes = (Route("POST", "/cards", "send", permission="cards:send"),)

    roles = table({"cards": Cards})
    assert roles.has_permission(Actor(user_id="u", roles=("user",)), "cards:send")
    build_routes({"cards": Cards})


def test_every_reference_route_needs_a_declared_permission_when_authenticated() -> None:
    """Each authenticated route of the reference modules declares a permission it may use."""
    routes = [r for cls in discover().values() for r in cls.routes if r.auth]
    assert routes and all(r.permission for r in routes)
    table()


def test_a_route_naming_an_undeclared_permission_stops_start_up() -> None:
    """Composing the table refuses a permission nobody declares, naming the route."""

    class Odd(BaseModule):
        name = "odd"
        routes = (Route("POST", "/odd", "poke", permission="odd:poke"),)

    with pytest.raises(RegistrationError, match=r"POST /odd: unknown permission 'odd:poke'"):
        table({"odd": Odd})


def test_a_route_may_not_borrow_a_permission_from_a_module_it_does_not_depend_on() -> None:
    """A module's route naming another module's permission needs that module as dependency."""

    class Owner(BaseModule):
        name = "owner"
        permissions = (Permission("owner:read"),)

    class Borrower(BaseModule):
        name = "borrower"
        routes = (
            Route("GET", "/b", "b", permission="owner:read", mode=RouteMode.QUERY, read_model="b"),
        )

    class Dependent(BaseModule):
        name = "dependent"
        dependencies = ("owner",)
        routes = (
            Route("GET", "/d", "d", permission="owner:read", mode=RouteMode.QUERY, read_model="d"),
        )

    with pytest.raises(RegistrationError, match=r"GET /b: permission 'owner:read' is declared"):
        table({"owner": Owner, "borrower": Borrower})
    assert table({"owner": Owner, "dependent": Dependent}).owners["owner:read"] == "owner"


def test_a_permission_declared_twice_stops_start_up() -> None:
    """Two modules (or a module and the kernel) declaring one name: refused, naming both."""

    class Twin(BaseModule):
        name = "twin"
        permissions = (Permission("hooks:read"),)

    with pytest.raises(RegistrationError, match=r"'hooks:read' is declared by 'platform' and"):
        table({"twin": Twin})


def test_permission_declarations_are_checked_when_made() -> None:
    """A bad name, an unknown role, a bare string or a repeat fail at declaration."""
    with pytest.raises(RegistrationError, match="not 'area:action'"):
        Permission("admin")
    with pytest.raises(RegistrationError, match="unknown role 'auditor'"):
        Permission("x:y", roles=("auditor",))
    with pytest.raises(RegistrationError, match="roles must be a tuple"):
        Permission("x:y", roles="user")  # type: ignore[arg-type]
    with pytest.raises(RegistrationError, match="declare Permission"):

        class Loose(BaseModule):
            name = "loose"
            permissions = ("loose:read",)  # type: ignore[assignment]

    with pytest.raises(RegistrationError, match="permission 'x:y' twice"):

        class Twice(BaseModule):
            name = "twice"
            permissions = (Permission("x:y"), Permission("x:y", roles=("operator",)))


def test_the_platform_permissions_are_the_kernels_own() -> None:
    """The kernel declares exactly these; replaying dead letters and cancelling anyone's
    command are for admins only."""
    names = {p.name: p.roles for p in PLATFORM_PERMISSIONS}
    assert set(names) == OPERATOR_PERMISSIONS | {"dead_letters:manage", "commands:cancel_any"}
    assert names["dead_letters:manage"] == ("admin",)


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
