"""``--scale``: the pipeline's cost as the data grows.

For each size (``--scale-sizes``) the stores are emptied and seeded with that many users
(each with a wallet and the wallet's first ledger entry) and that many finished commands
(each with its history, its hook-run record, its probe item and its Redis state), copies
of what the code wrote for one (``bench.templates``, ``bench.seed``). The gateway and the
worker then start on that data and the closed loop of ``bench.run`` measures throughput
and latency over ``--scale-commands`` commands; Redis's ``used_memory`` is read around the
seeding and around the commands, and its keyspace surveyed (``bench.keyspace``). Last,
the plans of the hot path's queries (``bench.plans``).

Figures: throughput, p99 and Redis bytes per command at each size against the first size
(the goal: throughput within 10 %), and how many of the hot queries use an index.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import redis

from bench.keyspace import Keyspace, survey, used_memory
from bench.pipeline import Run
from bench.plans import Plan, plans
from bench.report import Figure
from bench.run import Options, hookline_running
from bench.seed import Seeding, seed
from bench.servers import Servers
from bench.templates import Copies, capture_command, capture_user

DEFAULT_SIZES = (1_000, 100_000, 1_000_000)
DEFAULT_COMMANDS = 5_000
# The size whose keyspace is shown kind by kind (the nearest one run); all are in the JSON.
MEMORY_SIZE = 100_000
MIB = 2**20

Say = Callable[[str], None]


@dataclass(frozen=True)
class ScaleOptions:
    sizes: tuple[int, ...] = DEFAULT_SIZES
    commands: int = DEFAULT_COMMANDS


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma list of whole numbers: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("sizes must be 1 or more")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--scale", action="store_true", help="only the scale figures: cost as the data grows")
    add(
        "--scale-sizes",
        type=_sizes,
        default=DEFAULT_SIZES,
        help="users and commands seeded per measurement, comma list (default 1000,100000,1000000)",
    )
    add("--scale-commands", type=int, default=DEFAULT_COMMANDS, help="commands per measurement")


def options_from(args: argparse.Namespace) -> ScaleOptions:
    return ScaleOptions(sizes=tuple(args.scale_sizes), commands=args.scale_commands)


@dataclass(frozen=True)
class Point:
    """One size: its seeding, the measured run, and Redis's memory around both."""

    size: int
    seeding: Seeding
    run: Run
    seeded_bytes: int
    run_bytes: int
    commands_held: int
    keyspace: Keyspace

    @property
    def seeded_per_command(self) -> float:
        return self.seeded_bytes / self.size

    @property
    def run_per_command(self) -> float:
        return self.run_bytes / max(1, self.run.completed)

    def as_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "completed": self.run.completed,
            "failed": self.run.failed,
            "elapsed_s": self.run.elapsed_s,
            "p50_ms": self.run.percentile_ms(0.5),
            "p99_ms": self.run.percentile_ms(0.99),
            "seeding": {**asdict(self.seeding), "projected_1m_s": self.seeding.projected_s(10**6)},
        }


def run_scale(servers: Servers, options: Options, scale: ScaleOptions, say: Say) -> list[Figure]:
    say(
        f"scale: {', '.join(f'{s:,}' for s in scale.sizes)} users and commands; "
        f"{scale.commands} commands per measurement, {options.window} in flight, "
        f"{options.concurrency} worker processes"
    )
    copies = templates(servers, say)
    points = [
        measure(servers, copies, size, options=options, scale=scale, say=say)
        for size in scale.sizes
    ]
    say("plans of the hot path's queries (bench.plans):")
    found = plans(servers, servers.work_dir)
    for line in [*render_plans(found), *render_memory(points)]:
        say(line)
    return figures(points, found)


def templates(servers: Servers, say: Say) -> list[Copies]:
    command = capture_command(servers, servers.work_dir / "logs")
    user = capture_user(servers, servers.work_dir)
    for template in (command, user):
        say(
            f"  a {template.what} leaves {template.document_count} documents "
            f"({', '.join(template.documents)}) and {len(template.keys)} Redis keys"
        )
        for key in template.keys:
            say(f"    {key.name} ({key.kind}, TTL {key.ttl_ms / 1000:,.0f} s)")
    return [Copies(user), Copies(command, {command.principal: user.principal})]


def measure(
    servers: Servers,
    copies: Sequence[Copies],
    size: int,
    *,
    options: Options,
    scale: ScaleOptions,
    say: Say,
) -> Point:
    servers.reset()
    client = redis.Redis.from_url(servers.redis_url, decode_responses=True)
    try:
        say(f"scale {size:,}: seeding {size:,} users and {size:,} commands")
        empty = used_memory(client)
        seeding = seed(servers, copies, size, say)
        seeded = used_memory(client) - empty
        _say_seeding(say, seeding, seeded)
        with hookline_running(servers, options.concurrency, servers.work_dir / "logs", False) as d:
            warm = d.closed(options.warmup, options.window)
            before = used_memory(client)
            run = d.closed(scale.commands, options.window)
            grown = used_memory(client) - before
        _say_run(say, size, run, grown)
        keyspace = survey(client)
    finally:
        client.close()
    held = size + warm.completed + run.completed
    return Point(size, seeding, run, seeded, grown, held, keyspace)


def _say_seeding(say: Say, seeding: Seeding, seeded_bytes: int) -> None:
    way = "one transaction per batch" if seeding.transactions else "no transactions"
    say(
        f"  seeded {seeding.documents:,} documents in {seeding.mongo_s:.1f} s "
        f"({seeding.documents_per_s:,.0f}/s, {way}), indexes after in {seeding.indexes_s:.1f} s, "
        f"{seeding.keys:,} Redis keys meanwhile in {seeding.redis_s:.1f} s "
        f"(+{seeded_bytes / MIB:.1f} MiB = {seeded_bytes / seeding.size:,.0f} B per command); "
        f"{seeding.wall_s:.0f} s in all, 1,000,000 projected at "
        f"{seeding.projected_s(10**6) / 60:.1f} min"
    )


def _say_run(say: Say, size: int, run: Run, grown: int) -> None:
    say(
        f"  at {size:,}: {run.completed} done, {run.failed} failed in {run.elapsed_s:.1f} s = "
        f"{run.throughput_per_s:.1f}/s; p50 {run.percentile_ms(0.5):.1f} ms, "
        f"p99 {run.percentile_ms(0.99):.1f} ms; Redis +{grown / MIB:.1f} MiB = "
        f"{grown / max(1, run.completed):,.0f} B per command"
    )


# -- what is printed ------------------------------------------------------------------------


def render_plans(found: Sequence[Plan]) -> Iterator[str]:
    for hot in (True, False):
        yield "  on a hot path:" if hot else "  at a worker's start (not a hot path):"
        for plan in (p for p in found if p.hot is hot):
            star = "*" if plan.stub else ""
            steps = ", ".join(plan.steps)
            yield (
                f"    {plan.verdict:<8} {plan.query.operation + star:<15} "
                f"{plan.query.collection:<26} {plan.query.shape}  [{plan.count}x: {steps}]"
            )
            if plan.detail:
                yield f"             {plan.detail}"
    yield (
        "  * nx-27017's explain of a write is a stub ({'stage': 'EOF'}): what is shown "
        "is the plan of its filter, explained as a find"
    )
    scans = [p for p in found if p.hot and p.verdict == "SCAN"]
    yield f"  collection scans on a hot path: {len(scans)}" + "".join(
        f"\n    {p.query.operation} {p.query.collection} {p.query.shape}" for p in scans
    )


def render_memory(points: Sequence[Point]) -> Iterator[str]:
    yield "Redis memory (INFO used_memory; MEMORY USAGE of a sample of each kind of key):"
    for p in points:
        yield (
            f"  at {p.size:,}: seeding grew it {p.seeded_bytes / MIB:.1f} MiB = "
            f"{p.seeded_per_command:,.0f} B per seeded command; the {p.run.completed} measured "
            f"commands {p.run_bytes / MIB:.1f} MiB = {p.run_per_command:,.0f} B per command; "
            f"{p.keyspace.keys:,} keys, {p.keyspace.used_memory / MIB:.0f} MiB used"
        )
    shown = min(points, key=lambda p: abs(p.size - MEMORY_SIZE))
    yield from _kinds(shown)
    for p in points:
        yield from _without_ttl(p)


def _kinds(point: Point) -> Iterator[str]:
    yield f"  by kind at {point.size:,}, {point.commands_held:,} commands held:"
    yield f"    {'kind':<60} {'keys':>10} {'mean B':>8} {'B/command':>10}  TTL"
    for kind in point.keyspace.kinds:
        ttl = (
            f"{_duration(kind.min_ttl_s)} to {_duration(kind.max_ttl_s)}"
            if kind.count > kind.without_ttl
            else "none"
        )
        yield (
            f"    {kind.pattern[:60]:<60} {kind.count:>10,} {kind.mean_bytes:>8,.0f} "
            f"{kind.total_bytes / point.commands_held:>10,.1f}  {ttl}"
            + (f" ({kind.without_ttl:,} without)" if 0 < kind.without_ttl < kind.count else "")
        )


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds:.0f} s"
    return f"{seconds / 3600:.1f} h" if seconds < 48 * 3600 else f"{seconds / 86400:.1f} d"


def _without_ttl(point: Point) -> Iterator[str]:
    kinds = point.keyspace.without_ttl()
    yield f"  keys without a TTL at {point.size:,}: {sum(k.without_ttl for k in kinds):,}"
    for kind in kinds:
        grows = kind.without_ttl >= point.size
        what = "GROWS WITH THE COMMANDS" if grows else "does not grow with the commands"
        yield f"    {kind.pattern}: {kind.without_ttl:,} ({what}) e.g. {', '.join(kind.examples)}"


# -- figures --------------------------------------------------------------------------------


def figures(points: Sequence[Point], found: Sequence[Plan]) -> list[Figure]:
    first = points[0]
    base = f"at {first.size:,}"
    throughput = [
        Figure(
            key=f"scale_throughput_{p.size}",
            title=f"6 scale throughput at {p.size:,}",
            unit="cmd/s",
            hookline=p.run.throughput_per_s,
            baseline=first.run.throughput_per_s,
            baseline_name=base,
            goal=">= 0.9",
            details=p.as_json(),
        )
        for p in points
    ]
    p99 = [
        Figure(
            key=f"scale_p99_{p.size}",
            title=f"6 scale p99 at {p.size:,}",
            unit="ms",
            hookline=p.run.percentile_ms(0.99),
            baseline=first.run.percentile_ms(0.99),
            baseline_name=base,
            details={"size": p.size, "p50_ms": p.run.percentile_ms(0.5)},
        )
        for p in points
    ]
    return [*throughput, *p99, *(_memory_figure(p, first) for p in points), _plans_figure(found)]


def _memory_figure(point: Point, first: Point) -> Figure:
    """Redis's growth over the seeding of ``size`` commands, per command."""
    return Figure(
        key=f"scale_redis_bytes_{point.size}",
        title=f"6 scale Redis B/command at {point.size:,}",
        unit="B/cmd",
        hookline=point.seeded_per_command,
        baseline=first.seeded_per_command,
        baseline_name=f"at {first.size:,}",
        details={
            "size": point.size,
            "run_bytes": point.run_bytes,
            "run_bytes_per_command": point.run_per_command,
            "seeded_bytes": point.seeded_bytes,
            "seeded_bytes_per_command": point.seeded_per_command,
            "used_memory": point.keyspace.used_memory,
            "commands_held": point.commands_held,
            "keyspace": [kind.as_json() for kind in point.keyspace.kinds],
        },
    )


def _plans_figure(found: Sequence[Plan]) -> Figure:
    hot = [p for p in found if p.hot and p.verdict != "no query"]
    return Figure(
        key="scale_plans",
        title="6 hot queries using an index",
        unit="queries",
        hookline=sum(1 for p in hot if p.verdict == "index"),
        baseline=len(hot),
        baseline_name="hot queries",
        goal=">= 1.0",
        details={"plans": [p.as_json() for p in found]},
    )
