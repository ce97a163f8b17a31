"""Business modules: ``BaseModule``, its declarations, discovery and load order.

Nothing under this package performs I/O or reads the environment; a test enforces it.
"""

from modules.base import BaseModule
from modules.declarations import (
    HealthStatus,
    Hook,
    Index,
    Job,
    ModuleHealth,
    Permission,
    ReadModelKind,
    Route,
    RouteMode,
    Secret,
)
from modules.discovery import discover
from modules.loader import LoadResult, ModuleReport, ModuleState, load_all
from modules.ordering import DependencyError, load_order

__all__ = [
    "BaseModule",
    "DependencyError",
    "HealthStatus",
    "Hook",
    "Index",
    "Job",
    "LoadResult",
    "ModuleHealth",
    "ModuleReport",
    "ModuleState",
    "Permission",
    "ReadModelKind",
    "Route",
    "RouteMode",
    "Secret",
    "discover",
    "load_all",
    "load_order",
]
