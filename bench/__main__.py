"""``python -m bench`` (``make bench``): measure Hookline against its baselines and print ratios.

Sizes come from flags; ``BENCH_REDIS_URL`` / ``BENCH_MONGO_URL`` (or the flags)
point the run at servers that already answer, otherwise it starts its own.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import memory, report, scale
from bench.run import ALL_FIGURES, Options, run_all
from bench.servers import servers


def parse(argv: list[str]) -> tuple[Options, argparse.Namespace]:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    add = parser.add_argument
    add("--commands", type=int, default=defaults.commands, help="commands per throughput run")
    add("--window", type=int, default=defaults.window, help="commands in flight (closed loop)")
    add("--warmup", type=int, default=defaults.warmup, help="commands before each measurement")
    add("--concurrency", type=int, default=defaults.concurrency, help="worker processes")
    add("--latency-seconds", type=float, default=defaults.latency_s, help="open-loop run length")
    add("--load-seconds", type=float, default=defaults.load_s, help="HTTP load run length")
    add("--connections", type=int, default=defaults.connections, help="HTTP load connections")
    add("--dispatch-number", type=int, default=defaults.dispatch_number, help="calls per repeat")
    add(
        "--only",
        default=",".join(sorted(ALL_FIGURES)),
        help="comma list of: dispatch,gateway,pipeline",
    )
    add(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL"),
        help="Redis to use (its DB is flushed)",
    )
    add("--mongo-url", default=os.environ.get("BENCH_MONGO_URL"), help="MongoDB to use")
    add("--json", type=Path, help="also write the figures as JSON here")
    add("--keep", action="store_true", help="keep the work directory (logs) afterwards")
    scale.add_arguments(parser)
    memory.add_flags(parser)
    args = parser.parse_args(argv)
    figures = frozenset(name.strip() for name in args.only.split(",") if name.strip())
    if figures - ALL_FIGURES:
        parser.error(f"--only: unknown {', '.join(sorted(figures - ALL_FIGURES))}")
    options = Options(
        commands=args.commands,
        window=args.window,
        warmup=args.warmup,
        concurrency=args.concurrency,
        latency_s=args.latency_seconds,
        load_s=args.load_seconds,
        connections=args.connections,
        dispatch_number=args.dispatch_number,
        figures=figures,
    )
    return options, args


def main(argv: list[str] | None = None) -> int:
    options, args = parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    work_dir = Path(tempfile.mkdtemp(prefix="hookline-bench-"))
    started = time.monotonic()

    def say(line: str) -> None:
        print(f"[{time.monotonic() - started:5.0f} s] {line}" if line else "", flush=True)

    say(f"machine: {report.machine()}")
    say(f"options: {options}")
    try:
        with servers(args.redis_url, args.mongo_url, work_dir) as running:
            say(
                f"redis {running.redis_url}, mongo {running.mongo_url}, logs in {work_dir / 'logs'}"
            )
            if args.scale:
                figures = scale.run_scale(running, options, scale.options_from(args), say)
            elif args.memory:
                figures = memory.run_memory(
                    running, memory.options_from(args, options), work_dir / "logs", say
                )
            else:
                figures = run_all(running, options, work_dir / "logs", say)
            running.reset()
    finally:
        if not args.keep:
            shutil.rmtree(work_dir, ignore_errors=True)
    print(f"\n{report.render(figures)}")
    print(f"load average at the end: {report.machine()['load_average']}", flush=True)
    if args.json:
        report.write_json(args.json, figures, {"options": repr(options)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
