"""``--memory``: resident size of the gateway and of each worker process over many commands.

Hookline (closed loop over HTTP, as ``--only=pipeline`` drives it) and then plain
Celery get the same number of commands in 100 chunks; after each chunk (and once
before the first) the RSS and USS of the gateway, the worker's main process and
each of its pool children are read. A process is *flat* when its last RSS is at
most 5 % above its RSS at 20 % of the commands (the warm-up is over by then) and
it grew by at most 1 MiB over the second half. Neither system sets
``worker_max_tasks_per_child`` or ``worker_max_memory_per_child``: pool children
live the whole run, so their growth is not bounded by being replaced.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.pipeline import Run
from bench.readings import MIB, Reading, Sampler, Series
from bench.report import Figure
from bench.run import PLAIN, Driver, Options, Say, baseline_running, hookline_running
from bench.servers import Servers

SAMPLES = 100
WARM_FRACTION = 0.2
HALF = 0.5
FLAT_RATIO = 1.05
FLAT_HALF_GROWTH = 1 * MIB
PER = 10_000
_DEFAULT_COMMANDS = 100_000
# The role names the drivers use, as the table shows them.
_SHOWN = {"gateway": "gateway", "worker": "worker main"}


@dataclass(frozen=True)
class MemoryOptions:
    commands: int = _DEFAULT_COMMANDS
    window: int = Options().window
    concurrency: int = Options().concurrency


def add_flags(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--memory", action="store_true", help="run only the resident-size measurement")
    add("--memory-commands", type=int, default=_DEFAULT_COMMANDS, help="commands per system")
    add("--memory-window", type=int, default=None, help="commands in flight (default: --window)")


def options_from(args: argparse.Namespace, options: Options) -> MemoryOptions:
    window = args.memory_window if args.memory_window is not None else options.window
    return MemoryOptions(args.memory_commands, window, options.concurrency)


# -- one process's verdict -------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One process's line of the table; sizes in MiB."""

    process: str
    first: float
    at_20: float
    at_50: float
    last: float
    growth_per_10k: float
    flat: bool | None  # None: too few readings (a child that came or went mid-run)
    uss_last: float | None

    @property
    def verdict(self) -> str:
        return {True: "flat", False: "GROWS", None: "n/a"}[self.flat]


def row(series: Series, total: int) -> Row:
    points = series.points
    first, last = points[0], points[-1]
    at_20, at_50 = _at(points, WARM_FRACTION * total), _at(points, HALF * total)
    half_commands = last[0] - at_50[0]
    growth = last[1].rss - at_50[1].rss
    whole = first[0] == 0 and last[0] == total and half_commands > 0
    flat = (
        last[1].rss <= at_20[1].rss * FLAT_RATIO and growth <= FLAT_HALF_GROWTH if whole else None
    )
    return Row(
        process=series.name,
        first=_mib(first[1]),
        at_20=_mib(at_20[1]),
        at_50=_mib(at_50[1]),
        last=_mib(last[1]),
        growth_per_10k=growth / MIB * PER / half_commands if half_commands else float("nan"),
        flat=flat,
        uss_last=None if last[1].uss is None else last[1].uss / MIB,
    )


def _at(points: Sequence[tuple[int, Reading]], done: float) -> tuple[int, Reading]:
    """The reading taken nearest ``done`` commands."""
    return min(points, key=lambda point: abs(point[0] - done))


def _mib(reading: Reading) -> float:
    return reading.rss / MIB


# -- the table -------------------------------------------------------------------------------

_COLUMNS = (
    f"{'process':<34} {'first':>7} {'at 20%':>7} {'at 50%':>7} {'last':>7} "
    f"{'MiB/10k':>8} {'USS last':>8}  verdict"
)


def table(result: Measured, commands: int) -> list[str]:
    """One system's table: RSS in MiB; growth per 10 k commands over the second half."""
    lines = [
        f"{result.system}: RSS in MiB over {commands} commands "
        f"({result.completed} done, {result.failed} failed in {result.elapsed_s:.0f} s)",
        _COLUMNS,
        "-" * len(_COLUMNS),
    ]
    for r in result.rows:
        uss = "n/a" if r.uss_last is None else f"{r.uss_last:.1f}"
        lines.append(
            f"{r.process:<34} {r.first:>7.1f} {r.at_20:>7.1f} {r.at_50:>7.1f} {r.last:>7.1f} "
            f"{r.growth_per_10k:>8.2f} {uss:>8}  {r.verdict}"
        )
    late = [s.name for s in result.series if s.points[0][0] > 0 or s.points[-1][0] < commands]
    lines.append(f"processes that came or went mid-run: {', '.join(late) or 'none'}")
    return lines


# -- a measured run --------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    system: str
    rows: list[Row]
    completed: int
    failed: int
    elapsed_s: float
    series: list[Series]


def measure(
    system: str,
    running: contextlib.AbstractContextManager[Driver],
    options: MemoryOptions,
    say: Say,
) -> Measured:
    """Drive ``options.commands`` through the running system, reading memory every 1 %."""
    chunk = max(options.window, options.commands // SAMPLES)
    runs: list[Run] = []
    done = 0
    with running as driver:
        roles = {shown: driver.roles[r] for r, shown in _SHOWN.items() if r in driver.roles}
        sampler = Sampler(roles, pool_parent=_SHOWN["worker"])
        sampler.sample(0)
        while done < options.commands:
            size = min(chunk, options.commands - done)
            runs.append(driver.closed(size, options.window))
            done += size
            sampler.sample(done)
            if len(runs) % (SAMPLES // 10) == 0:
                say(f"    {system}: {done} commands; RSS MiB {_latest(sampler.series())}")
    series = [s for s in sampler.series() if s.points]
    return Measured(
        system,
        [row(s, options.commands) for s in series],
        completed=sum(r.completed for r in runs),
        failed=sum(r.failed for r in runs),
        elapsed_s=sum(r.elapsed_s for r in runs),
        series=series,
    )


def _latest(series: Sequence[Series]) -> str:
    return ", ".join(f"{s.name.split(' (')[0]} {s.points[-1][1].rss / MIB:.1f}" for s in series)


def run_memory(servers: Servers, options: MemoryOptions, logs: Path, say: Say) -> list[Figure]:
    say(
        f"memory: {options.commands} commands per system, {options.window} in flight, "
        f"{options.concurrency} worker processes, read every {100 // SAMPLES} %"
    )
    systems: list[tuple[str, Callable[[], contextlib.AbstractContextManager[Driver]]]] = [
        ("hookline", lambda: hookline_running(servers, options.concurrency, logs)),
        (PLAIN, lambda: baseline_running(servers, options.concurrency, logs)),
    ]
    measured = []
    for system, running in systems:
        result = measure(system, running(), options, say)
        say(
            f"  {system}: {result.completed} done, {result.failed} failed "
            f"in {result.elapsed_s:.0f} s"
        )
        measured.append(result)
    for result in measured:
        say("")
        for line in table(result, options.commands):
            say(line)
    ours, plain = measured
    return figures(ours, plain, options)


def figures(ours: Measured, plain: Measured, options: MemoryOptions) -> list[Figure]:
    details: dict[str, object] = {
        "commands": options.commands,
        "window": options.window,
        "concurrency": options.concurrency,
        "hookline": _details(ours),
        "baseline": _details(plain),
    }
    return [
        Figure(
            key="memory",
            title="7 resident size, all processes, last",
            unit="MiB",
            hookline=sum(r.last for r in ours.rows),
            baseline=sum(r.last for r in plain.rows),
            baseline_name=PLAIN,
            details=details,
        ),
        Figure(
            key="memory_growth",
            title="7 RSS growth, 2nd half, worst process",
            unit="MiB/10k",
            hookline=max(r.growth_per_10k for r in ours.rows),
            baseline=max(r.growth_per_10k for r in plain.rows),
            baseline_name=PLAIN,
            details={"hookline_all_flat": _all_flat(ours), "baseline_all_flat": _all_flat(plain)},
        ),
    ]


def _details(result: Measured) -> dict[str, object]:
    return {
        "completed": result.completed,
        "failed": result.failed,
        "elapsed_s": round(result.elapsed_s, 1),
        "processes": [{**asdict(r), "verdict": r.verdict} for r in result.rows],
        "readings": {
            s.name: [(done, reading.rss, reading.uss) for done, reading in s.points]
            for s in result.series
        },
    }


def _all_flat(result: Measured) -> bool:
    return all(r.flat is not False for r in result.rows)
