"""One benchmark run: start what each figure needs, measure, stop it, report."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench import dispatch, load, pipeline
from bench.caller import open_session
from bench.cpu import CpuMeter
from bench.pipeline import Run
from bench.probe import WORK_PATH
from bench.report import Figure
from bench.servers import (
    Servers,
    bare_argv,
    baseline_worker_argv,
    free_port,
    gateway_argv,
    handwritten_argv,
    hookline_worker_argv,
    process,
    wait_for_http,
    wait_for_workers,
)

log = logging.getLogger(__name__)

ALL_FIGURES = frozenset({"dispatch", "gateway", "pipeline"})
PLAIN = "plain Celery"
PEER = "hand-written Starlette + Celery"


@dataclass(frozen=True)
class Options:
    """Sizes of a run; the defaults finish well within ten minutes on two cores."""

    commands: int = 2000
    window: int = 16
    warmup: int = 100
    concurrency: int = 2
    latency_s: float = 15.0
    load_s: float = 10.0
    connections: int = 16
    dispatch_number: int = 20_000
    dispatch_repeat: int = 7
    figures: frozenset[str] = ALL_FIGURES


Say = Callable[[str], None]


# -- figure 3: in-process dispatch ----------------------------------------------------------


def dispatch_figure(options: Options) -> Figure:
    timing = dispatch.measure(10, options.dispatch_number, options.dispatch_repeat)
    return Figure(
        key="dispatch",
        title="3 hook dispatch, 1 event x 10 hooks",
        unit="us/call",
        hookline=timing.hookline_s * 1e6,
        baseline=timing.pluggy_s * 1e6,
        baseline_name="pluggy",
        goal="<= 0.2",
    )


# -- figure 2: the gateway's accept rate ----------------------------------------------------


def gateway_figures(servers: Servers, options: Options, logs: Path, say: Say) -> list[Figure]:
    tool = load.tool_name()
    say(f"gateway accept rate: load from {tool}, {options.connections} connections")
    rates = {}
    for name, argv, shown in (
        ("gateway", gateway_argv, "hookline gateway"),
        ("bare", bare_argv, "bare Starlette"),
        ("handwritten", handwritten_argv, PEER),
    ):
        rates[name] = _accept_rate(servers, name, argv, options, logs)
        say(f"  {shown}: {rates[name].accepted_per_s:.0f} 202/s ({rates[name].other} other)")
    ours = rates["gateway"]
    return [
        _gateway_figure(
            "gateway", ours, rates["bare"], name="bare Starlette", goal=">= 0.35", tool=tool
        ),
        _gateway_figure(
            "gateway_peer", ours, rates["handwritten"], name=PEER, goal=">= 2.0", tool=tool
        ),
    ]


def _gateway_figure(
    key: str, ours: load.LoadResult, theirs: load.LoadResult, *, name: str, goal: str, tool: str
) -> Figure:
    return Figure(
        key=key,
        title="2 gateway accept rate" + ("" if key == "gateway" else ", peer"),
        unit="202/s",
        hookline=ours.accepted_per_s,
        baseline=theirs.accepted_per_s,
        baseline_name=name,
        goal=goal,
        details={"tool": tool, "hookline_other": ours.other, "baseline_other": theirs.other},
    )


def _accept_rate(
    servers: Servers,
    name: str,
    argv: Callable[[int], list[str]],
    options: Options,
    logs: Path,
) -> load.LoadResult:
    token = _reset(servers)
    port = free_port()
    with process(name, argv(port), servers.child_env(), logs) as child:
        url = f"http://127.0.0.1:{port}"
        wait_for_http(f"{url}/", child, logs / f"{name}.log")
        warm_s = min(2.0, options.load_s / 5)
        if warm_s >= 1:
            load.generate(f"{url}{WORK_PATH}", warm_s, options.connections, token)
        return load.generate(f"{url}{WORK_PATH}", options.load_s, options.connections, token)


def _reset(servers: Servers) -> str:
    """Empty stores, and the access token of a session opened in them."""
    servers.reset()
    return open_session(servers.redis_url, servers.jwt_secret)


# -- figures 1, 4, 5: the pipeline ----------------------------------------------------------


@dataclass(frozen=True)
class Driver:
    """Submits probe commands to one running system; ``roles`` are its processes, by role."""

    closed: Callable[[int, int], Run]
    open: Callable[[float, float], Run]
    roles: dict[str, int]


@contextlib.contextmanager
def hookline_running(
    servers: Servers, concurrency: int, logs: Path, fresh: bool = True
) -> Iterator[Driver]:
    with _over_http(
        servers,
        logs,
        ("worker", hookline_worker_argv(concurrency)),
        ("gateway", gateway_argv, "/modules/status"),
        closed=pipeline.hookline_closed,
        open_loop=pipeline.hookline_open,
        fresh=fresh,
    ) as driver:
        yield driver


@contextlib.contextmanager
def baseline_running(servers: Servers, concurrency: int, logs: Path) -> Iterator[Driver]:
    servers.reset()
    env = servers.child_env()
    with process("baseline", baseline_worker_argv(concurrency), env, logs) as worker:
        wait_for_workers(servers.redis_url, worker, logs / "baseline.log")
        client = pipeline.baseline_client(servers.redis_url)
        try:
            yield Driver(
                closed=lambda count, window: pipeline.baseline_closed(client, count, window),
                open=lambda rate, seconds: pipeline.baseline_open(client, rate, seconds, 64),
                roles={**servers.roles, "worker": worker.pid},
            )
        finally:
            client.app.close()


@contextlib.contextmanager
def handwritten_running(servers: Servers, concurrency: int, logs: Path) -> Iterator[Driver]:
    """The plain Celery worker behind the hand-written Starlette peer, driven over HTTP."""
    with _over_http(
        servers,
        logs,
        ("peer-worker", baseline_worker_argv(concurrency)),
        ("web", handwritten_argv, "/"),
        closed=pipeline.peer_closed,
        open_loop=pipeline.peer_open,
    ) as driver:
        yield driver


@contextlib.contextmanager
def _over_http(
    servers: Servers,
    logs: Path,
    worker: tuple[str, list[str]],
    web: tuple[str, Callable[[int], list[str]], str],
    *,
    closed: Callable[[str, str, int, int], Run],
    open_loop: Callable[[str, str, float, float], Run],
    fresh: bool = True,
) -> Iterator[Driver]:
    """A worker (name, argv) and a web server (name, argv for a port, a path that answers
    once it is up) on emptied stores (or, not ``fresh``, on what they hold), driven over
    HTTP with a session's token."""
    token = _reset(servers) if fresh else open_session(servers.redis_url, servers.jwt_secret)
    env, port = servers.child_env(), free_port()
    (worker_name, worker_argv), (web_name, web_argv, ready_path) = worker, web
    with (
        process(worker_name, worker_argv, env, logs) as worker_process,
        process(web_name, web_argv(port), env, logs) as web_process,
    ):
        url = f"http://127.0.0.1:{port}"
        wait_for_workers(servers.redis_url, worker_process, logs / f"{worker_name}.log")
        wait_for_http(f"{url}{ready_path}", web_process, logs / f"{web_name}.log")
        yield Driver(
            closed=lambda count, window: closed(url, token, count, window),
            open=lambda rate, seconds: open_loop(url, token, rate, seconds),
            roles={**servers.roles, "worker": worker_process.pid, web_name: web_process.pid},
        )


@dataclass(frozen=True)
class PipelineNumbers:
    throughput: Run
    latency: Run
    latency_rate_per_s: float
    single: Run
    cpu_ms_per_command: dict[str, float]


def measure_system(
    name: str,
    running: Callable[[int], contextlib.AbstractContextManager[Driver]],
    options: Options,
    say: Say,
    single: bool = True,
) -> PipelineNumbers:
    """Closed-loop throughput (with CPU per command), open-loop latency at half of it,
    and (``single``) the throughput of one worker process."""
    with running(options.concurrency) as driver:
        driver.closed(options.warmup, options.window)
        meter = CpuMeter(driver.roles)
        throughput = driver.closed(options.commands, options.window)
        cpu = {role: s * 1000 / max(1, throughput.completed) for role, s in meter.used_s().items()}
        _say_run(say, f"{name}, {options.concurrency} worker processes, closed loop", throughput)
        say("    CPU ms per command: " + ", ".join(f"{r} {ms:.2f}" for r, ms in cpu.items()))
        rate = max(1.0, throughput.throughput_per_s / 2)
        latency = driver.open(rate, options.latency_s)
        _say_run(say, f"{name}, open loop at {rate:.0f}/s", latency)
    one_process = throughput
    if single and options.concurrency != 1:
        with running(1) as driver:
            driver.closed(options.warmup, options.window)
            one_process = driver.closed(options.commands, options.window)
            _say_run(say, f"{name}, 1 worker process, closed loop", one_process)
    return PipelineNumbers(throughput, latency, rate, one_process, cpu)


def _say_run(say: Say, what: str, run: Run) -> None:
    say(
        f"  {what}: {run.completed} done, {run.failed} failed in {run.elapsed_s:.1f} s = "
        f"{run.throughput_per_s:.1f}/s; p50 {run.percentile_ms(0.5):.1f} ms, "
        f"p99 {run.percentile_ms(0.99):.1f} ms"
    )


def pipeline_figures(
    ours: PipelineNumbers, plain: PipelineNumbers, peer: PipelineNumbers, options: Options
) -> list[Figure]:
    c = options.concurrency
    return [
        _throughput("throughput", f"1 pipeline throughput ({c} processes)", ours, plain, PLAIN),
        _throughput("throughput_peer", "1 pipeline throughput, peer", ours, peer, PEER),
        _latency(ours, plain, 0.5, "p50"),
        _latency(ours, plain, 0.99, "p99"),
        Figure(
            key="throughput_1",
            title="5 pipeline throughput (1 process)",
            unit="cmd/s",
            hookline=ours.single.throughput_per_s,
            baseline=plain.single.throughput_per_s,
            baseline_name=PLAIN,
        ),
        Figure(
            key="scaling",
            title=f"5 scaling, {c} processes over 1",
            unit="x",
            hookline=_over(ours.throughput, ours.single),
            baseline=_over(plain.throughput, plain.single),
            baseline_name=PLAIN,
        ),
    ]


_THROUGHPUT_GOALS = {PLAIN: ">= 0.9", PEER: ">= 1.0"}


def _throughput(
    key: str, title: str, ours: PipelineNumbers, theirs: PipelineNumbers, name: str
) -> Figure:
    return Figure(
        key=key,
        title=title,
        unit="cmd/s",
        hookline=ours.throughput.throughput_per_s,
        baseline=theirs.throughput.throughput_per_s,
        baseline_name=name,
        goal=_THROUGHPUT_GOALS[name],
        details={
            "hookline_failed": ours.throughput.failed,
            "baseline_failed": theirs.throughput.failed,
            "hookline_cpu_ms_per_command": ours.cpu_ms_per_command,
            "baseline_cpu_ms_per_command": theirs.cpu_ms_per_command,
        },
    )


def _latency(ours: PipelineNumbers, theirs: PipelineNumbers, fraction: float, label: str) -> Figure:
    return Figure(
        key=f"latency_{label}",
        title=f"4 latency {label} at half max throughput",
        unit="ms",
        hookline=ours.latency.percentile_ms(fraction),
        baseline=theirs.latency.percentile_ms(fraction),
        baseline_name=PLAIN,
        goal="<= 1.5",
        details={
            "hookline_rate_per_s": ours.latency_rate_per_s,
            "baseline_rate_per_s": theirs.latency_rate_per_s,
        },
    )


def _over(top: Run, bottom: Run) -> float:
    return (
        top.throughput_per_s / bottom.throughput_per_s if bottom.throughput_per_s else float("nan")
    )


# -- the whole run --------------------------------------------------------------------------


def run_all(servers: Servers, options: Options, logs: Path, say: Say) -> list[Figure]:
    figures: list[Figure] = []
    started = time.monotonic()
    if "dispatch" in options.figures:
        figures.append(dispatch_figure(options))
        say(f"hook dispatch: {figures[-1].hookline:.2f} us vs pluggy {figures[-1].baseline:.2f} us")
    if "gateway" in options.figures:
        figures += gateway_figures(servers, options, logs, say)
    if "pipeline" in options.figures:
        say(f"pipeline: {options.commands} commands, {options.window} in flight")
        ours = measure_system(
            "hookline", lambda c: hookline_running(servers, c, logs), options, say
        )
        plain = measure_system(PLAIN, lambda c: baseline_running(servers, c, logs), options, say)
        peer = measure_system(
            PEER, lambda c: handwritten_running(servers, c, logs), options, say, single=False
        )
        figures += pipeline_figures(ours, plain, peer, options)
    say(f"measured in {time.monotonic() - started:.0f} s")
    return sorted(figures, key=lambda f: f.title)
