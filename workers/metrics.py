"""Worker metrics for Prometheus: tasks, hook runs and broker queue depths.

The prefork pool runs tasks in child processes, so counters live in
prometheus-client's multiprocess mode: every process writes its values to files
under ``PROMETHEUS_MULTIPROC_DIR`` and the worker's main process serves the sum
of them on ``HOOKLINE_WORKER_METRICS_PORT``. The variable must be set before the
worker starts (``hookline worker``, ``hookline up`` and docker-compose set it),
one directory per worker instance.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from celery import Celery
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from pydantic_settings import BaseSettings, SettingsConfigDict

from events import HookRun

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
DURATION_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)

TASKS = Counter(
    "hookline_worker_tasks_total",
    "Celery tasks that finished a run, by task name and Celery state.",
    ["task", "state"],
)
TASK_SECONDS = Histogram(
    "hookline_worker_task_duration_seconds",
    "Time one task run took, by task name.",
    ["task"],
    buckets=DURATION_BUCKETS_S,
)
HOOK_RUNS = Counter(
    "hookline_hook_runs_total",
    "Hook runs, by module, handler, event and outcome.",
    ["module", "handler", "event", "outcome"],
)
HOOK_SECONDS = Histogram(
    "hookline_hook_run_duration_seconds",
    "Time one hook run took, by module and handler.",
    ["module", "handler"],
    buckets=DURATION_BUCKETS_S,
)
WEBHOOK_TRIES = Counter(
    "hookline_webhook_tries_total",
    "Outbound webhook tries, by outcome: succeeded, failed (another try is due), dead "
    "(the last try failed).",
    ["outcome"],
)
# Labelled (as every metric here) so no value exists before the first try: a worker
# clears its multiprocess directory at start, after this module is imported.
WEBHOOK_SECONDS = Histogram(
    "hookline_webhook_try_duration_seconds",
    "Time one outbound webhook try took, to its answer or its failure, by outcome.",
    ["outcome"],
    buckets=DURATION_BUCKETS_S,
)


def observe_webhook_try(outcome: str, seconds: float) -> None:
    WEBHOOK_TRIES.labels(outcome=outcome).inc()
    WEBHOOK_SECONDS.labels(outcome=outcome).observe(seconds)


class WorkerMetricsSettings(BaseSettings):
    """Where the worker serves its metrics; port 0 turns the endpoint off."""

    model_config = SettingsConfigDict(env_prefix="HOOKLINE_", extra="ignore", frozen=True)

    worker_metrics_port: int = 9808
    worker_metrics_address: str = "127.0.0.1"


def observe_hook_run(run: HookRun) -> None:
    HOOK_RUNS.labels(run.module, run.handler, run.event, str(run.status)).inc()
    HOOK_SECONDS.labels(run.module, run.handler).observe(run.duration_ms / 1000)


def observe_task(task: str, state: str, duration_s: float | None) -> None:
    TASKS.labels(task, state).inc()
    if duration_s is not None:
        TASK_SECONDS.labels(task).observe(duration_s)


def multiprocess_dir() -> Path | None:
    raw = os.environ.get(MULTIPROC_ENV)
    return Path(raw) if raw else None


def clear_multiprocess_dir() -> None:
    """Remove the previous run's value files; called once, before the pool forks."""
    directory = multiprocess_dir()
    if directory is None:
        log.warning("%s is not set: metrics of pool processes are not aggregated", MULTIPROC_ENV)
        return
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)


class QueueDepthCollector(Collector):
    """Reads how many messages wait in each queue from the broker, at scrape time."""

    def __init__(self, celery: Celery, queues: Sequence[str]) -> None:
        self._celery = celery
        self._queues = tuple(queues)

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "hookline_queue_depth", "Messages waiting in a broker queue.", labels=["queue"]
        )
        try:
            for queue, depth in self._depths():
                gauge.add_metric([queue], depth)
        except Exception:  # a broker hiccup must not break the scrape of the other metrics
            log.warning("could not read queue depths from the broker", exc_info=True)
            return
        yield gauge

    def _depths(self) -> Iterable[tuple[str, int]]:
        with self._celery.connection_for_read() as connection:
            for queue in self._queues:
                # A passive declare counts without creating; a queue nobody declared yet is empty.
                channel = connection.channel()
                try:
                    yield queue, channel.queue_declare(queue=queue, passive=True).message_count
                except connection.channel_errors:
                    yield queue, 0
                finally:
                    channel.close()


def worker_registry(celery: Celery, queues: Sequence[str]) -> CollectorRegistry:
    """The registry the worker serves: every pool process's values plus queue depths."""
    directory = multiprocess_dir()
    if directory is None:
        registry = REGISTRY
    else:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    registry.register(QueueDepthCollector(celery, queues))
    return registry


def serve_worker_metrics(celery: Celery, queues: Sequence[str]) -> int | None:
    """Start the metrics endpoint in this (main) process; the port, or None if it is off."""
    settings = WorkerMetricsSettings()
    if not settings.worker_metrics_port:
        return None
    registry = worker_registry(celery, queues)
    try:
        start_http_server(
            settings.worker_metrics_port, settings.worker_metrics_address, registry=registry
        )
    except OSError:
        log.exception("worker metrics could not listen on port %d", settings.worker_metrics_port)
        return None
    log.info(
        "worker metrics on http://%s:%d/metrics",
        settings.worker_metrics_address,
        settings.worker_metrics_port,
    )
    return settings.worker_metrics_port
