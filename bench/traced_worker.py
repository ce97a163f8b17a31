"""``celery -A bench.traced_worker worker``: Hookline's worker, its main process under
``bench.traced``; the pool processes stop tracing as they start (they inherit it)."""

from __future__ import annotations

import tracemalloc
from typing import Any

from celery import signals

from bench import traced

traced.start()

from workers.app import app  # noqa: E402  (imported under the trace)

__all__ = ["app"]


@signals.worker_process_init.connect  # type: ignore[untyped-decorator]
def _untraced_child(**_: Any) -> None:
    tracemalloc.stop()
