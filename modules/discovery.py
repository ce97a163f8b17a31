"""Find business modules by scanning packages (``modules`` by default) for subpackages."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from events import RegistrationError
from modules.base import BaseModule

DEFAULT_PACKAGES = ("modules",)


def discover(
    only: Iterable[str] | None = None, packages: Iterable[str] = DEFAULT_PACKAGES
) -> dict[str, type[BaseModule]]:
    """Import every module package (or just ``only``) found in ``packages``: name → class."""
    wanted = set(only) if only is not None else None
    found: dict[str, type[BaseModule]] = {}
    for package_name in packages:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            if not info.ispkg or (wanted is not None and info.name not in wanted):
                continue
            cls = module_class_in(f"{package_name}.{info.name}")
            if cls.name in found:
                raise RegistrationError(
                    f"module {cls.name!r} is defined in {found[cls.name].__module__!r} "
                    f"and {cls.__module__!r}"
                )
            found[cls.name] = cls
    if wanted is not None and wanted - found.keys():
        raise RegistrationError(f"modules not found: {', '.join(sorted(wanted - found.keys()))}")
    return found


def module_class_in(package_name: str) -> type[BaseModule]:
    """The one ``BaseModule`` subclass a module package defines."""
    package = importlib.import_module(package_name)
    classes = {
        obj
        for obj in vars(package).values()
        if isinstance(obj, type)
        and issubclass(obj, BaseModule)
        and obj is not BaseModule
        and obj.__module__.startswith(package_name)
    }
    if len(classes) != 1:
        raise RegistrationError(
            f"package {package_name!r} must export exactly one BaseModule subclass, "
            f"found {len(classes)}"
        )
    return classes.pop()
