"""Worker heartbeats in Redis: the gateway's view of which workers live and what they loaded."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from typing import Any

from core import keys
from events import utc_now
from modules import BaseModule, ModuleState
from workers.orchestrator import Orchestrator
from workers.runtime import Runtime

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def snapshot(runtime: Runtime) -> dict[str, Any]:
    """What one worker process reports: its store checks and every module's state and health."""
    return {
        "worker": worker_name(),
        "at": utc_now().isoformat(),
        "mongo": _mongo_status(runtime),
        "load_order": list(runtime.modules.order),
        "modules": [_module_status(runtime, name) for name in runtime.modules.order],
    }


def _mongo_status(runtime: Runtime) -> str:
    try:
        runtime.services.mongo.admin.command("ping")
    except Exception as e:  # a failed check is data, not an error
        return f"down: {type(e).__name__}"
    return "ok"


def _module_status(runtime: Runtime, name: str) -> dict[str, Any]:
    report = runtime.modules.reports[name]
    status: dict[str, Any] = {"name": name, "state": str(report.state), "reason": report.reason}
    orchestrator: Orchestrator[BaseModule] | None = runtime.modules.loaded.get(name)
    if report.state is ModuleState.LOADED and orchestrator is not None:
        try:
            status["health"] = orchestrator.module.health().to_json()
        except Exception as e:  # a module's own health check must not break the heartbeat
            status["health"] = {"status": "unhealthy", "details": {"error": str(e)}}
    else:
        status["health"] = {"status": "unhealthy", "details": {"reason": report.reason}}
    return status


class Heartbeat:
    """A daemon thread that writes this process's snapshot with a TTL."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="hookline-heartbeat", daemon=True)

    def start(self) -> None:
        self.beat()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        try:
            self._runtime.services.redis.delete(keys.worker_heartbeat(worker_name()))
        except Exception:  # shutting down; the TTL removes it anyway
            log.debug("could not remove heartbeat", exc_info=True)

    def beat(self) -> None:
        settings = self._runtime.services.settings
        self._runtime.services.redis.set(
            keys.worker_heartbeat(worker_name()),
            json.dumps(snapshot(self._runtime)),
            ex=settings.heartbeat_ttl_s,
        )

    def _loop(self) -> None:
        interval_s = self._runtime.services.settings.heartbeat_interval_s
        while not self._stop.wait(interval_s):
            try:
                self.beat()
            except Exception:  # a missed beat is retried on the next tick
                log.warning("heartbeat failed", exc_info=True)
