"""Tracing a served process with ``tracemalloc``, for ``bench.memtrace`` (never otherwise).

``start()`` traces every allocation from then on (``BENCH_TRACEMALLOC_FRAMES``
frames deep) when ``BENCH_TRACEMALLOC_DIR`` is set; each ``SIGNAL`` then collects
garbage and writes ``<n>.snapshot`` (tracemalloc's) and ``<n>.types.json`` (live
objects per type) there, ``n`` counting from 1, each file renamed into place once
complete. ``bench.traced_gateway`` and ``bench.traced_worker`` call it before
importing the gateway and the worker's app.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType

DIR_ENV = "BENCH_TRACEMALLOC_DIR"
FRAMES_ENV = "BENCH_TRACEMALLOC_FRAMES"
# Neither uvicorn nor Celery's worker uses it (Celery's SIGUSR1 dumps thread stacks).
SIGNAL = signal.SIGUSR2

_dumped = 0


def start() -> None:
    """Trace from now on and dump at each ``SIGNAL``, when ``DIR_ENV`` is set."""
    if os.environ.get(DIR_ENV):
        tracemalloc.start(int(os.environ.get(FRAMES_ENV, "8")))
        signal.signal(SIGNAL, _on_signal)


def dump(directory: Path) -> int:
    """Write the next snapshot and type counts to ``directory``; the number they got."""
    global _dumped  # noqa: PLW0603  (one counter per process, bumped by its signal)
    _dumped += 1
    gc.collect()
    snapshot = tracemalloc.take_snapshot()
    types = Counter(f"{type(o).__module__}.{type(o).__qualname__}" for o in gc.get_objects())
    stem = directory / str(_dumped)
    _into_place(stem.with_suffix(".types.json"), lambda p: p.write_text(json.dumps(types)))
    _into_place(stem.with_suffix(".snapshot"), lambda p: snapshot.dump(str(p)))
    return _dumped


def _into_place(final: Path, write: Callable[[Path], object]) -> None:
    partial = final.with_name(final.name + ".partial")
    write(partial)
    partial.replace(final)


def _on_signal(_signum: int, _frame: FrameType | None) -> None:
    dump(Path(os.environ[DIR_ENV]))
