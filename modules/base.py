"""``BaseModule``: the class every business module extends.

A module is pure. It declares what it needs as class attributes and decides
with ordinary methods; its orchestrator does the I/O around those decisions.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from typing import ClassVar

from events import EventSpec, RegistrationError
from modules.declarations import (
    Hook,
    Index,
    Job,
    ModuleHealth,
    Permission,
    Route,
    Secret,
    check_identifier,
)


class BaseModule:
    """Declarations plus pure business methods; reads nothing from the outside world."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    dependencies: ClassVar[tuple[str, ...]] = ()
    routes: ClassVar[tuple[Route, ...]] = ()
    # The permissions this module's routes need, and the roles that hold them. A route
    # may name these, those of a module it depends on, or the kernel's.
    permissions: ClassVar[tuple[Permission, ...]] = ()
    hooks: ClassVar[tuple[Hook, ...]] = ()
    events: ClassVar[tuple[EventSpec, ...]] = ()
    secrets: ClassVar[tuple[Secret, ...]] = ()
    # Background work the orchestrator sends itself (``Job``), each a task on a queue.
    jobs: ClassVar[tuple[Job, ...]] = ()
    indexes: ClassVar[tuple[Index, ...]] = ()
    # The names of the Redis views this module's orchestrator publishes; its query routes
    # name one of these as their ``read_model``. Declare each as a constant in the module,
    # so the route, the orchestrator and any tool that drops a view share one string.
    read_models: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            raise RegistrationError(f"module class {cls.__qualname__} must set `name`")
        check_identifier(cls.name, "module name")
        cls.events = tuple(dataclasses.replace(e, emitted_by=cls.name) for e in cls.events)
        _check_permissions(cls)
        _reject_duplicates(cls)

    def __init__(self) -> None:
        self.config: Mapping[str, str] = {}

    def initialize(self, secrets: Mapping[str, str]) -> None:
        """Take the resolved secrets; override to check or parse them (raise to refuse)."""
        self.config = dict(secrets)

    def health(self) -> ModuleHealth:
        return ModuleHealth()

    @classmethod
    def command_name(cls, handler: str) -> str:
        return f"{cls.name}.{handler}"

    @classmethod
    def job_name(cls, job: str) -> str:
        """The task name of job ``job``: apart from the command names (``module.handler``)."""
        return f"{cls.name}.job.{job}"

    @classmethod
    def collection_name(cls, short: str) -> str:
        """Collections are prefixed with the owning module's name."""
        return f"{cls.name}_{short}"


def _check_permissions(cls: type[BaseModule]) -> None:
    odd = [p for p in cls.permissions if not isinstance(p, Permission)]
    if odd:
        raise RegistrationError(
            f"module {cls.name!r}: permissions holds {odd[0]!r}; declare Permission(name, roles)"
        )


def _reject_duplicates(cls: type[BaseModule]) -> None:
    checks = {
        "route": [f"{r.method} {r.path}" for r in cls.routes],
        "route handler": [r.handler for r in cls.routes],
        "permission": [p.name for p in cls.permissions],
        "secret": [s.name for s in cls.secrets],
        "event": [e.name for e in cls.events],
        "hook": [f"{h.event}:{h.handler}" for h in cls.hooks],
        "job": [j.name for j in cls.jobs],
    }
    for what, names in checks.items():
        repeated = [name for name, count in Counter(names).items() if count > 1]
        if repeated:
            raise RegistrationError(f"module {cls.name!r} declares {what} {repeated[0]!r} twice")
