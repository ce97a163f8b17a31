"""One orchestrator per module, found by module name: ``workers.orchestrators.<module>``.

Other packages can be searched too (``HOOKLINE_ORCHESTRATOR_PACKAGES``); the
first one holding ``<package>.<module>`` wins.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable
from types import ModuleType

from modules import BaseModule
from workers.orchestrator import Orchestrator

DEFAULT_PACKAGES = (__name__,)


def orchestrator_for(
    module_class: type[BaseModule], packages: Iterable[str] = DEFAULT_PACKAGES
) -> type[Orchestrator[BaseModule]]:
    """The orchestrator class declared for ``module_class``; the plain base if it has none."""
    for package_name in packages:
        package = _import_if_present(f"{package_name}.{module_class.name}")
        if package is None:
            continue
        for obj in vars(package).values():
            if (
                inspect.isclass(obj)
                and issubclass(obj, Orchestrator)
                and obj.module_class is module_class
            ):
                return obj
    return Orchestrator


def _import_if_present(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:  # the module exists but something it imports does not
            raise
        return None


__all__ = ["orchestrator_for"]
