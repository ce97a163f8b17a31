"""Module load order: dependencies first, ties broken by name so the order is stable."""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence

from events import ConfigurationError


class DependencyError(ConfigurationError):
    """A module depends on one that is missing, or modules depend on each other in a cycle."""

    problem = "dependency-error"
    title = "Module dependency error"


def load_order(dependencies: Mapping[str, Sequence[str]]) -> list[str]:
    """Topologically sort module names so each comes after everything it depends on."""
    for name, declared in dependencies.items():
        missing = [dep for dep in declared if dep not in dependencies]
        if missing:
            raise DependencyError(
                f"module {name!r} depends on {', '.join(map(repr, missing))}, "
                "which is not available"
            )
    waiting = {name: set(needs) for name, needs in dependencies.items()}
    ready = [name for name, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for other, needs in waiting.items():
            if name in needs:
                needs.discard(name)
                if not needs:
                    heapq.heappush(ready, other)
    if len(order) < len(waiting):
        raise DependencyError(f"dependency cycle among modules: {_describe_cycle(waiting)}")
    return order


def _describe_cycle(waiting: Mapping[str, set[str]]) -> str:
    """Follow unmet dependencies from a blocked module until one repeats."""
    blocked = {name: needs for name, needs in waiting.items() if needs}
    path = [min(blocked)]
    while True:
        nxt = min(dep for dep in blocked[path[-1]] if dep in blocked)
        if nxt in path:
            return " -> ".join([*path[path.index(nxt) :], nxt])
        path.append(nxt)
