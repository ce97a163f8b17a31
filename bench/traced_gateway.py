"""The Hookline gateway under ``tracemalloc``, for ``bench.memtrace`` (never served otherwise).

``uvicorn bench.traced_gateway:app`` with ``BENCH_TRACEMALLOC_DIR`` set traces every
allocation from the gateway's import on (``BENCH_TRACEMALLOC_FRAMES`` frames deep);
each SIGUSR1 then collects garbage and writes ``<n>.snapshot`` (tracemalloc's) and
``<n>.types.json`` (live objects per type) there, ``n`` counting from 1, each file
renamed into place once it is complete.
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

tracemalloc.start(int(os.environ.get(FRAMES_ENV, "8")))

from api_gateway.app import app  # noqa: E402  (imported under the trace)

__all__ = ["app"]

_dumped = 0


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


if os.environ.get(DIR_ENV):
    signal.signal(signal.SIGUSR1, _on_signal)
