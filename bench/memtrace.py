"""``python -m bench.memtrace``: where a Hookline process's memory grows, by allocation site.

Starts the embedded Redis and MongoDB, a Hookline worker and the gateway, one of
them (``--process``: the gateway, or the worker's main process) under
``tracemalloc`` (``bench.traced``); drives ``--first`` commands through it
(closed loop, as ``--memory`` does), has it write a snapshot, drives it on to
``--commands`` and has it write another; then prints what grew between the two:
the top allocation sites by bytes (tracemalloc's ``lineno`` view, then the
deepest ``traceback`` view of the first few) and the live objects per type.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

from bench import pipeline, readings, traced
from bench.caller import open_session
from bench.readings import MIB
from bench.servers import (
    BenchError,
    Servers,
    free_port,
    gateway_argv,
    hookline_worker_argv,
    process,
    servers,
    wait_for_http,
    wait_for_workers,
)

CHUNK = 1000
PROCESSES = ("gateway", "worker")
_GATEWAY_APP = "api_gateway.app:app"
_WORKER_APP = "workers.app"
DUMP_TIMEOUT_S = 120.0
# Allocation sites left out: imports, tracemalloc itself, and the dump (counting objects).
_IGNORED = (
    "<frozen importlib._bootstrap>",
    "<frozen importlib._bootstrap_external>",
    "<unknown>",
    tracemalloc.__file__,
    str(Path(__file__).with_name("traced.py")),
)

Drive = Callable[[int], int]


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.memtrace", description=__doc__)
    add = parser.add_argument
    add("--commands", type=int, default=20_000, help="commands at the second snapshot")
    add("--first", type=int, default=5_000, help="commands at the first snapshot")
    add("--process", choices=PROCESSES, default="gateway", help="the process traced")
    add("--window", type=int, default=16, help="commands in flight")
    add("--concurrency", type=int, default=2, help="worker processes")
    add("--frames", type=int, default=8, help="frames traced per allocation")
    add("--top", type=int, default=25, help="allocation sites shown")
    add("--keep", action="store_true", help="keep the work directory (logs, snapshots)")
    args = parser.parse_args(argv)
    if not 0 < args.first < args.commands:
        parser.error("--first must be above 0 and below --commands")
    return args


@contextlib.contextmanager
def traced_hookline(
    running: Servers, args: argparse.Namespace, logs: Path, dumps: Path
) -> Iterator[tuple[Drive, int]]:
    """A worker and the gateway, ``args.process`` of them traced; a function driving n
    commands, and the traced process's pid."""
    running.reset()
    token = open_session(running.redis_url, running.jwt_secret)
    traced_env = running.child_env(
        **{traced.DIR_ENV: str(dumps), traced.FRAMES_ENV: str(args.frames)}
    )
    env = {name: running.child_env() for name in PROCESSES}
    env[args.process] = traced_env
    port = free_port()
    gateway_app = "bench.traced_gateway:app" if args.process == "gateway" else _GATEWAY_APP
    worker_app = "bench.traced_worker" if args.process == "worker" else _WORKER_APP
    with (
        process(
            "worker",
            _replaced(hookline_worker_argv(args.concurrency), _WORKER_APP, worker_app),
            env["worker"],
            logs,
        ) as worker,
        process(
            "gateway",
            _replaced(gateway_argv(port), _GATEWAY_APP, gateway_app),
            env["gateway"],
            logs,
        ) as gateway,
    ):
        url = f"http://127.0.0.1:{port}"
        wait_for_workers(running.redis_url, worker, logs / "worker.log")
        wait_for_http(f"{url}/modules/status", gateway, logs / "gateway.log")

        def drive(count: int) -> int:
            run = pipeline.hookline_closed(url, token, count, args.window)
            return run.failed

        yield drive, (gateway if args.process == "gateway" else worker).pid


def _replaced(argv: list[str], old: str, new: str) -> list[str]:
    return [new if part == old else part for part in argv]


def snapshot(pid: int, dumps: Path, number: int) -> Path:
    """Have the traced process write its snapshot ``number``; its path once complete."""
    os.kill(pid, traced.SIGNAL)
    path = dumps / f"{number}.snapshot"
    deadline = time.monotonic() + DUMP_TIMEOUT_S
    while not path.exists():
        if time.monotonic() > deadline:
            raise BenchError(f"pid {pid} wrote no {path} within {DUMP_TIMEOUT_S:.0f} s")
        time.sleep(0.2)
    return path


def grown_sites(before: Path, after: Path, top: int, per: int) -> list[str]:
    """The allocation sites that grew most between two snapshots (bytes, blocks, per command)."""
    # Filtered after comparing: filter_traces takes seconds per 100 k traces, this does not.
    old, new = (tracemalloc.Snapshot.load(str(p)) for p in (before, after))
    by_line = [s for s in new.compare_to(old, "lineno") if _kept(s.traceback)]
    total = sum(s.size_diff for s in by_line)
    lines = [
        f"traced growth {total / 1024:+.1f} KiB = {total / per:+.1f} B per command; top sites:"
    ]
    for stat in by_line[:top]:
        frame = stat.traceback[0]
        lines.append(
            f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+8d} blocks "
            f"{stat.size_diff / per:+7.1f} B/cmd  {_short(frame.filename)}:{frame.lineno}"
        )
    lines.append("deepest tracebacks of the top 5 (most recent call last):")
    by_traceback = (s for s in new.compare_to(old, "traceback") if _kept(s.traceback))
    for stat in itertools.islice(by_traceback, 5):
        lines.append(f"  {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+8d} blocks")
        lines += [f"      {_short(f.filename)}:{f.lineno}" for f in stat.traceback]
    return lines


def grown_types(before: Path, after: Path, top: int) -> list[str]:
    """The types of live (gc-tracked) objects whose count grew most."""
    old, new = (json.loads(p.read_text()) for p in (before, after))
    diffs = sorted(((n - old.get(t, 0), t) for t, n in new.items()), reverse=True)
    return ["live objects, most grown types:"] + [f"  {d:+8d}  {t}" for d, t in diffs[:top] if d]


def _kept(traceback: tracemalloc.Traceback) -> bool:
    return not any(frame.filename in _IGNORED for frame in traceback)


def _short(filename: str) -> str:
    for marker in ("site-packages/", "wt-memory/", "/work/main/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    work_dir = Path(tempfile.mkdtemp(prefix="hookline-memtrace-"))
    dumps, logs = work_dir / "tracemalloc", work_dir / "logs"
    dumps.mkdir()
    try:
        with (
            servers(None, None, work_dir) as running,
            traced_hookline(running, args, logs, dumps) as (drive, pid),
        ):
            before, after = _drive_to_marks(drive, pid, dumps, (args.first, args.commands))
        for line in grown_sites(before, after, args.top, args.commands - args.first):
            print(line)
        types = (before.with_suffix(".types.json"), after.with_suffix(".types.json"))
        for line in grown_types(*types, args.top):
            print(line)
    finally:
        if args.keep:
            print(f"kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


def _drive_to_marks(
    drive: Drive, pid: int, dumps: Path, marks: tuple[int, int]
) -> tuple[Path, Path]:
    """Drive commands up to each mark, then snapshot: the two snapshots' paths."""
    done = failed = 0
    paths: list[Path] = []
    started = time.monotonic()
    for number, mark in enumerate(marks, start=1):
        while done < mark:
            size = min(CHUNK, mark - done)
            failed += drive(size)
            done += size
        reading = readings.read(pid)
        rss = f"{reading.rss / MIB:.1f} MiB" if reading else "gone"
        paths.append(snapshot(pid, dumps, number))
        print(
            f"[{time.monotonic() - started:5.0f} s] {done} commands ({failed} failed): "
            f"RSS {rss}, snapshot {number}",
            flush=True,
        )
    return paths[0], paths[1]


if __name__ == "__main__":
    sys.exit(main())
