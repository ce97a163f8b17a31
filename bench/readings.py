"""Resident memory of running processes: RSS, and USS where ``/proc/<pid>/smaps`` is readable.

A ``Sampler`` reads a set of named processes plus every pool child of the worker,
each child followed by pid: a child first seen after the first reading (its
predecessor exited, or the pool grew) gets a name of its own, so a replaced child
shows as a series that starts late, next to one that ends early.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import psutil

MIB = 2**20


@dataclass(frozen=True)
class Reading:
    """One process's memory at one moment, in bytes (USS is None when it cannot be read)."""

    rss: int
    uss: int | None


def read(pid: int) -> Reading | None:
    """``pid``'s memory now, or None when it has exited."""
    try:
        process = psutil.Process(pid)
        try:
            full = process.memory_full_info()
            return Reading(full.rss, full.uss)
        except psutil.AccessDenied:
            return Reading(process.memory_info().rss, None)
    except psutil.NoSuchProcess:
        return None


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (a Celery worker's pool processes), oldest first."""
    try:
        found = psutil.Process(pid).children()
    except psutil.NoSuchProcess:
        return []
    return [child.pid for child in sorted(found, key=_started)]


def _started(process: psutil.Process) -> float:
    try:
        return float(process.create_time())
    except psutil.Error:
        return 0.0


@dataclass
class Series:
    """The readings of one process: (commands done when read, reading)."""

    name: str
    pid: int
    points: list[tuple[int, Reading]] = field(default_factory=list)


class Sampler:
    """Reads ``roles`` (name -> pid) and the children of ``pool_parent`` at each ``sample``."""

    def __init__(self, roles: Mapping[str, int], pool_parent: str) -> None:
        self._roles = dict(roles)
        self._pool_parent = pool_parent
        self._series: dict[int, Series] = {
            pid: Series(name, pid) for name, pid in self._roles.items()
        }
        self._samples = 0

    def sample(self, done: int) -> None:
        """Read every process now, ``done`` commands into the run."""
        for pid in children(self._roles[self._pool_parent]):
            if pid not in self._series:
                number = 1 + sum(s.name.startswith("pool child") for s in self._series.values())
                late = f", from {done} commands" if self._samples else ""
                self._series[pid] = Series(f"pool child {number} (pid {pid}{late})", pid)
        for series in self._series.values():
            reading = read(series.pid)
            if reading is not None:
                series.points.append((done, reading))
        self._samples += 1

    def series(self) -> list[Series]:
        return list(self._series.values())
