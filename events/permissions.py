"""Roles, and the ``Permission`` record that modules and the kernel declare.

It lives here, beside ``EventSpec``, for the same reason: modules declare
permissions, and the kernel (``core.security.permissions``) composes them into
its role table, and both may import ``events``. ``modules.declarations``
re-exports ``Permission`` for module authors.

There are three roles. ``user`` is every registered user; ``operator`` reads
the platform (commands, hooks, dead letters, metrics, health) and changes
nothing; ``admin`` holds every permission, whatever a declaration names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from events.errors import RegistrationError

USER_ROLE = "user"
OPERATOR_ROLE = "operator"
ADMIN_ROLE = "admin"
ROLES = (USER_ROLE, OPERATOR_ROLE, ADMIN_ROLE)

_PERMISSION = re.compile(r"^[a-z][a-z0-9_]*:[a-z][a-z0-9_]*$")


def check_permission_name(name: str, where: str) -> str:
    if not _PERMISSION.match(name):
        raise RegistrationError(f"{where}: permission {name!r} is not 'area:action'")
    return name


@dataclass(frozen=True)
class Permission:
    """A permission and the roles that hold it (admin holds every one regardless)."""

    name: str
    roles: tuple[str, ...] = (USER_ROLE,)
    description: str = ""

    def __post_init__(self) -> None:
        where = f"permission {self.name!r}"
        check_permission_name(self.name, where)
        if isinstance(self.roles, str):
            raise RegistrationError(f"{where}: roles must be a tuple of role names")
        unknown = [role for role in self.roles if role not in ROLES]
        if unknown:
            raise RegistrationError(
                f"{where}: unknown role {unknown[0]!r} (roles are {', '.join(ROLES)})"
            )


@dataclass(frozen=True)
class PermissionUse:
    """A route needing ``permission``: its module, a dependency or the kernel must declare it."""

    where: str
    permission: str
    module: str
    # The modules whose permissions the route may name: its own and its dependencies.
    may_use: tuple[str, ...]
