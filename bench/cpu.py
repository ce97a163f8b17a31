"""CPU time per process role (gateway, worker, Redis…), to show where a run's time went."""

from __future__ import annotations

import os
from collections.abc import Mapping

import psutil

CLIENT = "client"


def _tree_cpu_s(pid: int, descendants: bool = True) -> float:
    """User plus system CPU seconds of ``pid`` and (unless told not to) its live descendants."""
    try:
        root = psutil.Process(pid)
        processes = [root, *(root.children(recursive=True) if descendants else [])]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


class CpuMeter:
    """CPU seconds used by each named process tree (and this process) between two readings."""

    def __init__(self, roles: Mapping[str, int]) -> None:
        self._roles = dict(roles)
        self._start = self._read()

    def _read(self) -> dict[str, float]:
        # This process's children are the servers measured under their own roles.
        readings = {role: _tree_cpu_s(pid) for role, pid in self._roles.items()}
        return {**readings, CLIENT: _tree_cpu_s(os.getpid(), descendants=False)}

    def used_s(self) -> dict[str, float]:
        end = self._read()
        return {role: max(0.0, end[role] - self._start[role]) for role in end}
