"""The role table: which role holds which permission, composed from the declarations.

Each module declares its own permissions and the roles that hold them
(``BaseModule.permissions``); the kernel declares its platform permissions
here. ``RoleTable.compose`` joins them when the gateway or a worker starts,
refusing a permission declared twice and a route whose permission neither its
module, a module it depends on, nor the kernel declares. The admin role holds
every permission; an API key's permissions are its scopes (already bounded by
its creator's permissions, see ``api_gateway.auth``). Anything not granted is
refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from events import Actor, Forbidden, RegistrationError
from events.permissions import (
    ADMIN_ROLE,
    OPERATOR_ROLE,
    ROLES,
    Permission,
    PermissionUse,
)
from events.platform_commands import MANAGE_DEAD_LETTERS, READ_DEAD_LETTERS

# The name under which the kernel's own permissions are declared.
PLATFORM = "platform"

READ_ANY_COMMAND = "commands:read_any"
CANCEL_ANY_COMMAND = "commands:cancel_any"
READ_HOOKS = "hooks:read"
READ_METRICS = "metrics:read"
READ_HEALTH = "health:read"

PLATFORM_PERMISSIONS = (
    Permission(
        READ_ANY_COMMAND,
        roles=(OPERATOR_ROLE,),
        description="Read any command's document (never its secret results)",
    ),
    Permission(
        CANCEL_ANY_COMMAND,
        roles=(ADMIN_ROLE,),
        description="Cancel any command (everyone may cancel their own)",
    ),
    Permission(
        READ_HOOKS,
        roles=(OPERATOR_ROLE,),
        description="See which hooks run for each event (/hooks, and the hooks in /events)",
    ),
    Permission(READ_DEAD_LETTERS, roles=(OPERATOR_ROLE,), description="List and show dead letters"),
    Permission(MANAGE_DEAD_LETTERS, roles=(ADMIN_ROLE,), description="Replay dead letters"),
    Permission(READ_METRICS, roles=(OPERATOR_ROLE,), description="Read the metrics"),
    Permission(READ_HEALTH, roles=(OPERATOR_ROLE,), description="Read the health of the parts"),
)


@dataclass(frozen=True)
class RoleTable:
    """Each role's permissions, and who declared each permission."""

    grants: Mapping[str, frozenset[str]]
    owners: Mapping[str, str]

    @classmethod
    def compose(
        cls, declared: Mapping[str, Iterable[Permission]], uses: Iterable[PermissionUse] = ()
    ) -> RoleTable:
        """The table of the kernel's and ``declared``'s (module name → its permissions).

        ``RegistrationError`` names the permission declared twice, or the route that
        needs one nobody it may rely on declares.
        """
        if PLATFORM in declared:
            raise RegistrationError(f"module name {PLATFORM!r} is reserved for the kernel")
        owners: dict[str, str] = {}
        grants: dict[str, set[str]] = {role: set() for role in ROLES}
        for owner, permissions in {PLATFORM: PLATFORM_PERMISSIONS, **declared}.items():
            for permission in permissions:
                _claim(owners, permission.name, owner)
                for role in permission.roles:
                    grants[role].add(permission.name)
        grants[ADMIN_ROLE] = set(owners)
        table = cls({role: frozenset(held) for role, held in grants.items()}, owners)
        for use in uses:
            table.check_use(use)
        return table

    @property
    def known(self) -> frozenset[str]:
        return frozenset(self.owners)

    def of_roles(self, roles: Iterable[str]) -> frozenset[str]:
        """What ``roles`` hold together; a role the table does not know holds nothing."""
        return frozenset().union(*(self.grants.get(role, frozenset()) for role in roles))

    def permissions_of(self, actor: Actor) -> frozenset[str]:
        """Everything ``actor`` may do: its roles' permissions plus its key's known scopes."""
        return self.of_roles(actor.roles) | (frozenset(actor.scopes) & self.known)

    def has_permission(self, actor: Actor, permission: str) -> bool:
        return permission in self.permissions_of(actor)

    def require(self, actor: Actor, permission: str | None) -> None:
        """Raise ``Forbidden`` unless ``actor`` holds ``permission`` (None: nothing needed)."""
        if permission is not None and not self.has_permission(actor, permission):
            raise Forbidden(
                f"this route needs the {permission!r} permission", permission=permission
            )

    def check_use(self, use: PermissionUse) -> None:
        """Stop start-up when a route needs a permission it may not rely on."""
        owner = self.owners.get(use.permission)
        if owner is None:
            raise RegistrationError(f"{use.where}: unknown permission {use.permission!r}")
        if owner != PLATFORM and owner not in use.may_use:
            raise RegistrationError(
                f"{use.where}: permission {use.permission!r} is declared by module "
                f"{owner!r}, which module {use.module!r} does not depend on"
            )


def _claim(owners: dict[str, str], name: str, owner: str) -> None:
    if name in owners:
        raise RegistrationError(
            f"permission {name!r} is declared by {owners[name]!r} and {owner!r}"
        )
    owners[name] = owner
