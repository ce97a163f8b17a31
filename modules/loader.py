"""Bring modules up in dependency order, isolating the ones that fail.

A module whose start-up raises is reported as failed; modules that depend on
it are skipped; everything else runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from modules.base import BaseModule
from modules.ordering import load_order

log = logging.getLogger(__name__)

T = TypeVar("T")


class ModuleState(StrEnum):
    LOADED = "loaded"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ModuleReport:
    name: str
    state: ModuleState
    reason: str = ""


@dataclass(frozen=True)
class LoadResult(Generic[T]):
    order: tuple[str, ...]
    loaded: dict[str, T]
    reports: dict[str, ModuleReport]


def load_all(
    classes: Mapping[str, type[BaseModule]],
    start: Callable[[type[BaseModule]], T],
) -> LoadResult[T]:
    """Call ``start`` for each module class in load order; failures do not stop the others."""
    order = load_order({name: cls.dependencies for name, cls in classes.items()})
    loaded: dict[str, T] = {}
    reports: dict[str, ModuleReport] = {}
    for name in order:
        unavailable = [d for d in classes[name].dependencies if d not in loaded]
        if unavailable:
            reason = f"dependency {unavailable[0]!r} is not loaded"
            reports[name] = ModuleReport(name, ModuleState.SKIPPED, reason)
            log.warning("module %s skipped: %s", name, reason)
            continue
        try:
            loaded[name] = start(classes[name])
        except Exception as e:  # isolation boundary: one module's failure must not stop the rest
            log.exception("module %s failed to start", name)
            reports[name] = ModuleReport(name, ModuleState.FAILED, f"{type(e).__name__}: {e}")
            continue
        reports[name] = ModuleReport(name, ModuleState.LOADED)
    return LoadResult(tuple(order), loaded, reports)
