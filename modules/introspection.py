"""What the declarations say, without running anything: load order, events, hook order,
permissions.

The gateway, the CLI and the docs need the hooks of each event in dispatch
order but run no hook. They register every declared hook with a no-op handler
in an ``events.HookRegistry``, in module load order, exactly as a worker does
with the real handlers, so the ordering rule stays in one place. The
permissions each module declares, and those its routes need, are what the
kernel's role table is composed from (``core.security.RoleTable.compose``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel

from events import EventCatalogue, EventSink, HookRegistry, Received, RegisteredHook
from events.permissions import Permission, PermissionUse
from modules.base import BaseModule
from modules.ordering import load_order


def _no_op(_event: Received[BaseModel], _sink: EventSink) -> None:
    """Stands in for a handler that lives in a worker; it takes any event's model."""


@dataclass(frozen=True)
class Declared:
    """Every module in load order, the event catalogue, and the hooks table."""

    classes: Mapping[str, type[BaseModule]]
    catalogue: EventCatalogue
    hooks: HookRegistry

    @property
    def order(self) -> tuple[str, ...]:
        return tuple(self.classes)

    def hooks_for(self, event: str) -> tuple[RegisteredHook, ...]:
        return self.hooks.hooks_for(event)

    @property
    def permissions(self) -> dict[str, tuple[Permission, ...]]:
        """Each module's declared permissions, by module name."""
        return {name: cls.permissions for name, cls in self.classes.items()}

    @property
    def permission_uses(self) -> tuple[PermissionUse, ...]:
        """Every route that needs a permission, with the modules it may take it from."""
        return tuple(
            PermissionUse(
                where=f"route {route.method} {route.path}",
                permission=route.permission,
                module=name,
                may_use=(name, *cls.dependencies),
            )
            for name, cls in self.classes.items()
            for route in cls.routes
            if route.permission is not None
        )


def declared(classes: Mapping[str, type[BaseModule]]) -> Declared:
    """Order ``classes`` by their dependencies and build the catalogue and hooks table."""
    order = load_order({name: cls.dependencies for name, cls in classes.items()})
    ordered = {name: classes[name] for name in order}
    catalogue = EventCatalogue(tuple(spec for cls in ordered.values() for spec in cls.events))
    registry = HookRegistry(catalogue)
    for name, cls in ordered.items():
        for hook in cls.hooks:
            registry.register(
                hook.event,
                _no_op,
                module=name,
                handler_name=hook.handler,
                priority=hook.priority,
                context=hook.context,
                critical=hook.critical,
            )
    return Declared(ordered, catalogue, registry)
