"""One orchestrator per module, found by module name: ``workers.orchestrators.<module>``."""

from __future__ import annotations

import importlib
import inspect

from modules import BaseModule
from workers.orchestrator import Orchestrator


def orchestrator_for(module_class: type[BaseModule]) -> type[Orchestrator[BaseModule]]:
    """The orchestrator class declared for ``module_class``; the plain base if it has none."""
    try:
        package = importlib.import_module(f"{__name__}.{module_class.name}")
    except ModuleNotFoundError as e:
        if e.name != f"{__name__}.{module_class.name}":
            raise
        return Orchestrator
    for obj in vars(package).values():
        if (
            inspect.isclass(obj)
            and issubclass(obj, Orchestrator)
            and obj.module_class is module_class
        ):
            return obj
    return Orchestrator


__all__ = ["orchestrator_for"]
