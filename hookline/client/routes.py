"""Where a ``submit`` goes: a path (``/wallet/deposit``, ``"DELETE /admin/api-keys/{key_id}"``)
or a command name (``wallet.deposit``) looked up in the gateway's ``/openapi.json``.

The gateway publishes each route with its command name as ``operationId``, so a client
needs no copy of the module declarations; the table is read once per client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from hookline.client.errors import InvalidArgument, ProtocolError, UnknownCommand

OPENAPI_PATH = "/openapi.json"
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_PARAMETER = re.compile(r"\{([^{}/]+)\}")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # a template: ``{name}`` is filled from the payload

    @property
    def is_query(self) -> bool:
        """A read: its payload goes in the query string, and it takes no Idempotency-Key."""
        return self.method == "GET"

    def fill(self, payload: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """The path with its parameters taken from ``payload``, and what is left of it."""
        rest = dict(payload)

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in rest:
                raise InvalidArgument(f"{self.method} {self.path} needs {name!r} in the payload")
            return quote(str(rest.pop(name)), safe="")

        return _PARAMETER.sub(value, self.path), rest


def parse_target(target: str) -> Route | None:
    """The route ``target`` spells out, or None when it is a command name."""
    method, _, path = target.strip().rpartition(" ")
    if not path.startswith("/"):
        return None
    method = method.strip().upper() or "POST"
    if method not in _METHODS:
        raise InvalidArgument(f"{target!r}: unknown method {method!r}")
    return Route(method, path)


class RouteTable:
    """Command name → route, from an OpenAPI document."""

    def __init__(self, routes: Mapping[str, Route]) -> None:
        self._routes = dict(routes)

    @classmethod
    def from_openapi(cls, document: Any) -> RouteTable:
        try:
            paths: dict[str, dict[str, Any]] = document["paths"]
            return cls(
                {
                    operation["operationId"]: Route(method.upper(), path)
                    for path, operations in paths.items()
                    for method, operation in operations.items()
                    if method.upper() in _METHODS and "operationId" in operation
                }
            )
        except (KeyError, TypeError, AttributeError) as e:
            raise ProtocolError(f"{OPENAPI_PATH} is not an OpenAPI document: {e}") from e

    def route(self, name: str) -> Route:
        if name not in self._routes:
            known = ", ".join(sorted(self._routes))
            raise UnknownCommand(f"no command {name!r}; known: {known}")
        return self._routes[name]
