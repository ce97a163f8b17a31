"""Roles and the permissions they grant; what an actor may do.

Module routes name the permission they need (``Route.permission``). A user's
permissions come from their roles; an API key's are the scopes an admin gave it.
The admin role holds every permission. Anything not granted is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from events import Actor, Forbidden, RegistrationError

ADMIN_ROLE = "admin"
USER_ROLE = "user"

# Permissions every registered user has.
USER_PERMISSIONS = frozenset(
    {
        "profile:read",
        "session:logout",
        "wallet:read",
        "wallet:deposit",
        "wallet:withdraw",
        "transactions:read",
        "transactions:transfer",
        "notifications:read",
    }
)
# Permissions only admins (or API keys scoped with them) have; the operator routes of
# DESIGN.md (hook table, dead letters) check theirs with ``require``.
ADMIN_PERMISSIONS = frozenset(
    {"api_keys:manage", "commands:read_any", "hooks:read", "dead_letters:manage"}
    | {"health:read", "metrics:read"}
)

ROLE_PERMISSIONS: Mapping[str, frozenset[str]] = {
    USER_ROLE: USER_PERMISSIONS,
    ADMIN_ROLE: USER_PERMISSIONS | ADMIN_PERMISSIONS,
}
KNOWN_PERMISSIONS = frozenset().union(*ROLE_PERMISSIONS.values())


def permissions_of(actor: Actor) -> frozenset[str]:
    """Everything ``actor`` may do: its roles' permissions plus its key's scopes."""
    granted = {p for role in actor.roles for p in ROLE_PERMISSIONS.get(role, ())}
    return frozenset(granted | (set(actor.scopes) & KNOWN_PERMISSIONS))


def has_permission(actor: Actor, permission: str) -> bool:
    return permission in permissions_of(actor)


def require(actor: Actor, permission: str | None) -> None:
    """Raise ``Forbidden`` unless ``actor`` holds ``permission`` (None: nothing needed)."""
    if permission is not None and not has_permission(actor, permission):
        raise Forbidden(f"this route needs the {permission!r} permission", permission=permission)


def check_known(permissions: Iterable[str], where: str) -> None:
    """Stop start-up when a declaration names a permission no role grants."""
    unknown = sorted(set(permissions) - KNOWN_PERMISSIONS)
    if unknown:
        raise RegistrationError(f"{where}: unknown permission {unknown[0]!r}")
