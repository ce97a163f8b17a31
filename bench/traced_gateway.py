"""``uvicorn bench.traced_gateway:app``: the Hookline gateway under ``bench.traced``."""

from __future__ import annotations

from bench import traced

traced.start()

from api_gateway.app import app  # noqa: E402  (imported under the trace)

__all__ = ["app"]
