"""What a module declares: routes, permissions, hooks, secrets, indexes and health.

Declarations are frozen records checked when they are made, so a wrong one
fails at import with a message naming it, not at the first request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from events import DEFAULT_PRIORITY, RegistrationError, SerializeBy
from events.hooks import check_priority
from events.permissions import (
    ADMIN_ROLE,
    OPERATOR_ROLE,
    USER_ROLE,
    Permission,
    check_permission_name,
)
from events.sensitive import check_no_nested_sensitive, sensitive_fields

# ``Permission`` and the role names are declarations too; they live in ``events``, where
# the kernel's role table reads them, and are re-exported here for module authors.
__all__ = [
    "ADMIN_ROLE",
    "HTTP_METHODS",
    "OPERATOR_ROLE",
    "USER_ROLE",
    "HealthStatus",
    "Hook",
    "Index",
    "Job",
    "ModuleHealth",
    "Permission",
    "ReadModelKind",
    "Route",
    "RouteMode",
    "Secret",
    "check_identifier",
]

HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
# `limits` notation: "5/minute", "100 per 2 hours"; several joined by ";" or ",".
_ONE_LIMIT = r"\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day|month|year)s?"
_RATE_LIMIT = re.compile(rf"^\s*{_ONE_LIMIT}(\s*[;,]\s*{_ONE_LIMIT})*\s*$")


def check_identifier(value: str, what: str) -> str:
    if not _IDENTIFIER.match(value):
        raise RegistrationError(f"{what} {value!r} must be lower_snake_case")
    return value


class RouteMode(StrEnum):
    COMMAND = "command"  # published on the bus; 202 or the outcome with Prefer: wait
    # Served from a Redis read model, which a query command fills when missing; a query with
    # no read model is answered by its query command every time (state that changes outside
    # commands, such as a webhook delivery's tries, is never served stale).
    QUERY = "query"


class ReadModelKind(StrEnum):
    DOCUMENT = "document"  # one JSON document per caller
    LIST = "list"  # the caller's items, newest first, read a page at a time


@dataclass(frozen=True)
class Route:
    """An HTTP route the gateway builds; ``handler`` names the orchestrator method."""

    method: str
    path: str
    handler: str
    request: type[BaseModel] | None = None
    auth: bool = True
    permission: str | None = None
    mode: RouteMode = RouteMode.COMMAND
    read_model: str | None = None
    read_model_kind: ReadModelKind = ReadModelKind.DOCUMENT
    success_status: int = 200
    summary: str = ""
    # A limit per caller on this route, in `limits` notation ("5/minute").
    rate_limit: str | None = None
    # A query whose read model is one view for every caller (an admin list), not per caller.
    shared_read_model: bool = False
    # The route acts on the calling user's own account (a wallet, a profile): an API key has
    # none, so the gateway refuses keys here rather than running a command that cannot work.
    users_only: bool = False
    # The model of the outcome's body (or of the read model); documentation only.
    response: type[BaseModel] | None = None
    # A running command of this route may be cancelled: its handler calls
    # ``ctx.checkpoint()`` between steps and stops there. Others are cancelled only
    # before they start (409 once running).
    cancellable: bool = False
    # Run this route's commands one at a time per key, in acceptance order, across all
    # workers: "actor" lines up every serialized command of one caller, whatever its route
    # (``events.serial``). None: commands run in parallel.
    serialize_by: str | None = None

    def __post_init__(self) -> None:
        where = f"route {self.method} {self.path}"
        if self.method not in HTTP_METHODS:
            raise RegistrationError(f"{where}: unknown method {self.method!r}")
        if self.permission is not None:
            check_permission_name(self.permission, where)
        if self.rate_limit is not None and not _RATE_LIMIT.match(self.rate_limit):
            raise RegistrationError(
                f"{where}: rate_limit {self.rate_limit!r} is not like '5/minute'"
            )
        if not self.path.startswith("/"):
            raise RegistrationError(f"{where}: path must start with '/'")
        check_identifier(self.handler, f"{where}: handler")
        self._check_mode(where)
        self._check_sensitive(where)
        if self.serialize_by is not None:
            self._check_serialize_by(where)

    @property
    def serial_by(self) -> SerializeBy | None:
        """``serialize_by`` as checked when the route was declared."""
        return None if self.serialize_by is None else SerializeBy(self.serialize_by)

    def _check_mode(self, where: str) -> None:
        if self.read_model is not None and self.mode is not RouteMode.QUERY:
            raise RegistrationError(f"{where}: only a query route has a read_model")
        if self.read_model is not None and "{" in self.path:
            raise RegistrationError(
                f"{where}: a read model is one view per caller; a query with path "
                "parameters has none (its query command answers each time)"
            )
        if self.method == "GET" and self.mode is RouteMode.COMMAND:
            raise RegistrationError(f"{where}: a GET route must be a query")
        if self.cancellable and self.mode is RouteMode.QUERY:
            raise RegistrationError(f"{where}: only a command route can be cancellable")

    def _check_serialize_by(self, where: str) -> None:
        """A known key, on a command route whose callers are known (an anonymous route
        would put every stranger in one line)."""
        known = sorted(str(by) for by in SerializeBy)
        if self.serialize_by not in known:
            raise RegistrationError(
                f"{where}: serialize_by {self.serialize_by!r} is not one of {known}"
            )
        if self.mode is not RouteMode.COMMAND:
            raise RegistrationError(f"{where}: serialize_by applies to command routes only")
        if not self.auth:
            raise RegistrationError(
                f"{where}: serialize_by {self.serialize_by!r} needs an authenticated route"
            )

    def _check_sensitive(self, where: str) -> None:
        """Credentials only at the top of a command's body or result, never in a URL."""
        for model in (self.request, self.response):
            if model is not None:
                check_no_nested_sensitive(model, where)
        if self.mode is RouteMode.QUERY and self.request and sensitive_fields(self.request):
            raise RegistrationError(
                f"{where}: a query's parameters end up in URLs and access logs; "
                "a sensitive field belongs in a command's body"
            )


@dataclass(frozen=True)
class Hook:
    """A module's wish to run ``handler`` (an orchestrator method) when ``event`` happens."""

    event: str
    handler: str
    priority: int = DEFAULT_PRIORITY
    context: str = ""
    critical: bool = False

    def __post_init__(self) -> None:
        where = f"hook {self.handler} for {self.event!r}"
        check_identifier(self.handler, f"{where}: handler")
        check_priority(self.priority, where)


@dataclass(frozen=True)
class Job:
    """Background work a module sends itself: ``handler`` (an orchestrator method) takes
    the ``payload`` model, on the module's own queue (where its commands run, and which
    every worker serving the module consumes and sweeps for lost messages).

    A job carries no retry of its own: the module keeps the record of what is due and
    sends the job again (``Orchestrator.send_jobs``), so a job that raises is logged and
    dropped. Jobs are for work that is not a command: nobody waits on it over HTTP."""

    name: str
    handler: str
    payload: type[BaseModel]

    def __post_init__(self) -> None:
        where = f"job {self.name!r}"
        check_identifier(self.name, "job")
        check_identifier(self.handler, f"{where}: handler")
        if not (isinstance(self.payload, type) and issubclass(self.payload, BaseModel)):
            raise RegistrationError(f"{where}: payload must be a pydantic model class")
        check_no_nested_sensitive(self.payload, where)
        if sensitive_fields(self.payload):
            raise RegistrationError(f"{where}: a job's payload crosses the bus unsealed")


@dataclass(frozen=True)
class Secret:
    """A value the orchestrator resolves through the secrets chain and hands to the module."""

    name: str
    default: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        check_identifier(self.name, "secret")


@dataclass(frozen=True)
class Index:
    """An index one of the module's collections needs; ensured at worker start."""

    collection: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False

    def __post_init__(self) -> None:
        check_identifier(self.collection, "collection")
        if not self.keys or any(direction not in (1, -1) for _, direction in self.keys):
            raise RegistrationError(
                f"index on {self.collection!r}: keys must be (field, 1 | -1) pairs"
            )


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class ModuleHealth:
    status: HealthStatus = HealthStatus.HEALTHY
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"status": str(self.status), "details": self.details}
