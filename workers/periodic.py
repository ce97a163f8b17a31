"""A daemon thread that runs one step every interval, in each worker process."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Periodic:
    """Runs ``step`` every ``interval_s`` until stopped; a failed step is logged and the
    next tick tries again."""

    def __init__(self, name: str, interval_s: float, step: Callable[[], object]) -> None:
        self._step = step
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self._step()
            except Exception:  # the next tick tries again
                log.warning("%s failed", self._thread.name, exc_info=True)
