"""``python -m bench --memory`` runs end to end at a tiny size (no size or timing is asserted)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from bench.__main__ import main
from bench.memory import row
from bench.readings import MIB, Reading, Series
from tests.stack_fixtures import Servers

pytestmark = pytest.mark.bench

COMMANDS = 40
CONCURRENCY = 2
POOL = [f"pool child {n}" for n in range(1, CONCURRENCY + 1)]


def test_every_process_of_both_systems_is_read(
    servers: Servers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both tables list the gateway (Hookline only), the worker's main process and each pool
    child; every command completes and each process has a verdict."""
    out = tmp_path / "memory.json"
    argv = [
        "--memory",
        f"--memory-commands={COMMANDS}",
        "--memory-window=4",
        f"--concurrency={CONCURRENCY}",
        f"--mongo-url={servers.mongo_url}",
        f"--json={out}",
    ]
    assert main(argv) == 0
    figures = {f["key"]: f for f in json.loads(out.read_text())["figures"]}
    assert set(figures) == {"memory", "memory_growth"}
    details = figures["memory"]["details"]
    for system, expected in (
        ("hookline", ["gateway", "worker main", *POOL]),
        ("baseline", ["worker main", *POOL]),
    ):
        measured: dict[str, Any] = details[system]
        assert (measured["completed"], measured["failed"]) == (COMMANDS, 0)
        names = sorted(p["process"].split(" (pid")[0] for p in measured["processes"])
        assert names == sorted(expected)
        assert {p["verdict"] for p in measured["processes"]} <= {"flat", "GROWS"}
    printed = capsys.readouterr().out
    assert "hookline: RSS in MiB" in printed and "plain Celery: RSS in MiB" in printed
    for name in ("gateway", "worker main", *POOL):
        assert re.search(rf"\] {name} ", printed), name


def _series(rss_mib: list[float], step: int) -> Series:
    points = [(i * step, Reading(round(mib * MIB), None)) for i, mib in enumerate(rss_mib)]
    return Series("p", 1, points)


def test_a_process_is_flat_after_warm_up_or_grows() -> None:
    """Flat: the last reading within 5 % of the one at 20 % and at most 1 MiB more than at
    50 %. Growth is per 10 k commands over the second half."""
    warm = row(_series([80, 90, 91, 91, 91, 91.5], 2000), 10_000)
    assert (warm.at_20, warm.at_50, warm.last, warm.flat) == (90.0, 91.0, 91.5, True)
    assert warm.growth_per_10k == pytest.approx(0.5 * 10_000 / 6000)  # from 4 k (nearest 5 k)
    creeping = row(_series([80, 90, 91, 92, 93, 94], 2000), 10_000)
    assert creeping.flat is False and creeping.verdict == "GROWS"
    late = row(
        Series("late", 2, [(4000, Reading(MIB, None)), (10_000, Reading(MIB, None))]), 10_000
    )
    assert late.flat is None and late.verdict == "n/a"
