"""The figures a run produces, and how they are printed."""

from __future__ import annotations

import json
import math
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Figure:
    """One line of the report: Hookline's number, the baseline's, and their ratio."""

    key: str
    title: str
    unit: str
    hookline: float
    baseline: float
    baseline_name: str
    goal: str = ""
    details: dict[str, object] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        """Hookline over baseline (for times, lower is better; for rates, higher)."""
        if self.baseline == 0 or math.isnan(self.baseline):
            return float("nan")
        return self.hookline / self.baseline

    def row(self) -> str:
        return (
            f"{self.title:<38} {_num(self.hookline):>10} {_num(self.baseline):>10} "
            f"{self.ratio:>7.2f}  {self.unit:<10} {self.baseline_name:<22} {self.goal}"
        )


HEADER = (
    f"{'figure':<38} {'hookline':>10} {'baseline':>10} {'ratio':>7}  {'unit':<10} "
    f"{'baseline is':<22} goal"
)


def _num(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.0f}"


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    load_1, load_5, load_15 = psutil.getloadavg()
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": _cpu_model() or platform.machine(),
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average": [round(load_1, 2), round(load_5, 2), round(load_15, 2)],
    }


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return ""
    for line in cpuinfo.read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return ""


def render(figures: list[Figure]) -> str:
    lines = [HEADER, "-" * len(HEADER), *(f.row() for f in figures)]
    return "\n".join(lines)


def write_json(path: Path, figures: list[Figure], settings: dict[str, object]) -> None:
    data = {
        "machine": machine(),
        "settings": settings,
        "figures": [{**asdict(f), "ratio": f.ratio} for f in figures],
    }
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
