"""Client-side pipeline measurements: from submitting a probe command to having its outcome.

Hookline is driven over HTTP: ``POST /probe/work`` with ``Prefer: wait=30``,
which answers with the command's outcome once the command and its hook have
run; each request carries the caller's bearer token and an ``Idempotency-Key``
of its own (``bench.caller``), so authentication, limits, idempotency and the
in-flight cap all do their work. Plain Celery is driven with ``record.delay()`` and its results (the
command task's and the hook task's) fetched from the Redis result backend. The
hand-written peer (``bench.handwritten_app``) is driven over HTTP as its users
would: ``POST /probe/work`` (``202``), then its status route polled every
``POLL_S`` until both tasks are done.

Two shapes of load:

- closed loop: ``window`` submitters, each starting its next command as soon
  as its last one completed; gives the maximum throughput.
- open loop: commands started on a fixed schedule (``rate`` per second)
  whatever happens to earlier ones; latency counts from the scheduled start,
  so a client falling behind cannot hide queueing.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from bench.baseline import Baseline, build
from bench.probe import WORK_PATH
from core.settings import Settings

WAIT_S = 30
CREATED = 201
ACCEPTED = 202
POLL_S = 0.005
_MAX_CONNECTIONS = 512


@dataclass(frozen=True)
class Run:
    """What one load run saw: completions, failures, wall time and each latency."""

    completed: int
    failed: int
    elapsed_s: float
    latencies_s: tuple[float, ...]

    @property
    def throughput_per_s(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def percentile_ms(self, fraction: float) -> float:
        """The latency below which ``fraction`` of the completed commands fall, in ms."""
        if not self.latencies_s:
            return float("nan")
        if len(self.latencies_s) == 1:
            return self.latencies_s[0] * 1000
        cuts = statistics.quantiles(self.latencies_s, n=1000, method="inclusive")
        return cuts[min(len(cuts) - 1, max(0, round(fraction * 1000) - 1))] * 1000


class _Tally:
    """Latencies and failures, collected from many submitters."""

    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.failed = 0
        self._lock = threading.Lock()

    def add(self, started: float, ok: bool) -> None:
        latency = time.perf_counter() - started
        with self._lock:
            if ok:
                self.latencies.append(latency)
            else:
                self.failed += 1

    def run(self, elapsed_s: float) -> Run:
        return Run(len(self.latencies), self.failed, elapsed_s, tuple(self.latencies))


# -- Hookline over HTTP ---------------------------------------------------------------------


def _http_client(base_url: str, token: str) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=_MAX_CONNECTIONS, max_keepalive_connections=_MAX_CONNECTIONS
    )
    return httpx.AsyncClient(
        base_url=base_url,
        limits=limits,
        timeout=WAIT_S + 10,
        headers={"Authorization": f"Bearer {token}"},
    )


def _fresh_key() -> dict[str, str]:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def _hookline_one(
    client: httpx.AsyncClient, value: int, started: float, tally: _Tally
) -> None:
    try:
        response = await client.post(
            WORK_PATH,
            json={"value": value},
            headers={"Prefer": f"wait={WAIT_S}", **_fresh_key()},
        )
        ok = response.status_code == CREATED
    except httpx.HTTPError:
        ok = False
    tally.add(started, ok)


async def _peer_one(client: httpx.AsyncClient, value: int, started: float, tally: _Tally) -> None:
    try:
        response = await client.post(WORK_PATH, json={"value": value}, headers=_fresh_key())
        ok = response.status_code == ACCEPTED and await _polled(client, response.json())
    except httpx.HTTPError:
        ok = False
    tally.add(started, ok)


async def _polled(client: httpx.AsyncClient, accepted: dict[str, Any]) -> bool:
    """Poll the peer's status route until the command is done; whether it succeeded."""
    deadline = time.perf_counter() + WAIT_S
    while time.perf_counter() < deadline:
        status = (await client.get(accepted["status_url"])).json()["status"]
        if status != "pending":
            return bool(status == "succeeded")
        await asyncio.sleep(POLL_S)
    return False


One = Callable[[httpx.AsyncClient, int, float, "_Tally"], Coroutine[Any, Any, None]]


def hookline_closed(base_url: str, token: str, count: int, window: int) -> Run:
    return http_closed(_hookline_one, base_url, token, count, window)


def hookline_open(base_url: str, token: str, rate_per_s: float, duration_s: float) -> Run:
    return http_open(_hookline_one, base_url, token, rate_per_s, duration_s)


def peer_closed(base_url: str, token: str, count: int, window: int) -> Run:
    return http_closed(_peer_one, base_url, token, count, window)


def peer_open(base_url: str, token: str, rate_per_s: float, duration_s: float) -> Run:
    return http_open(_peer_one, base_url, token, rate_per_s, duration_s)


def http_closed(one: One, base_url: str, token: str, count: int, window: int) -> Run:
    """``count`` commands through ``window`` concurrent submitters."""

    async def main() -> Run:
        tally = _Tally()
        numbers = iter(range(count))
        async with _http_client(base_url, token) as client:

            async def submitter() -> None:
                for value in numbers:
                    await one(client, value, time.perf_counter(), tally)

            started = time.perf_counter()
            await asyncio.gather(*(submitter() for _ in range(window)))
            return tally.run(time.perf_counter() - started)

    return asyncio.run(main())


def http_open(one: One, base_url: str, token: str, rate_per_s: float, duration_s: float) -> Run:
    """Commands started at ``rate_per_s`` for ``duration_s``; latency from the scheduled start."""

    async def main() -> Run:
        tally = _Tally()
        async with _http_client(base_url, token) as client:
            elapsed = await _paced(
                rate_per_s, duration_s, lambda value, at: one(client, value, at, tally)
            )
        return tally.run(elapsed)

    return asyncio.run(main())


async def _paced(
    rate_per_s: float, duration_s: float, start: Callable[[int, float], Coroutine[Any, Any, None]]
) -> float:
    total = max(1, round(rate_per_s * duration_s))
    began = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    for value in range(total):
        at = began + value / rate_per_s
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(start(value, at)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - began


# -- the baseline: plain Celery -------------------------------------------------------------


def baseline_client(redis_url: str) -> Baseline:
    """The baseline app as a client builds it: same broker, Redis result backend."""
    return build(Settings(REDIS_URL=redis_url, BROKER_URL=redis_url))


def _baseline_one(baseline: Baseline, value: int, started: float, tally: _Tally) -> None:
    # Celery's result backend is per thread, so every submitter thread waits on its own.
    hook_id = uuid.uuid4().hex
    try:
        baseline.record.delay(value, hook_id).get(timeout=WAIT_S)
        baseline.app.AsyncResult(hook_id).get(timeout=WAIT_S)
        ok = True
    except Exception:  # a failed or lost task is a failed command, counted, not raised
        ok = False
    tally.add(started, ok)


def baseline_closed(baseline: Baseline, count: int, window: int) -> Run:
    """``count`` task pairs through ``window`` submitter threads."""
    tally = _Tally()
    numbers = iter(range(count))
    lock = threading.Lock()

    def submitter() -> None:
        try:
            while True:
                with lock:
                    value = next(numbers, None)
                if value is None:
                    return
                _baseline_one(baseline, value, time.perf_counter(), tally)
        finally:
            _close_backend(baseline)

    started = time.perf_counter()
    with ThreadPoolExecutor(window) as pool:
        for _ in range(window):
            pool.submit(submitter)
    return tally.run(time.perf_counter() - started)


def _close_backend(baseline: Baseline) -> None:
    """Close this thread's result backend (Celery keeps one per thread): left to the garbage
    collector once the thread ends, its sockets are found unclosed (a ResourceWarning each)."""
    backend = baseline.app.backend
    backend.result_consumer.stop()
    backend.client.connection_pool.disconnect()


def baseline_open(baseline: Baseline, rate_per_s: float, duration_s: float, threads: int) -> Run:
    """Task pairs started at ``rate_per_s``; latency from the scheduled start."""
    tally = _Tally()
    total = max(1, round(rate_per_s * duration_s))
    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        for value in range(total):
            at = began + value / rate_per_s
            delay = at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(_baseline_one, baseline, value, at, tally)
    return tally.run(time.perf_counter() - began)
