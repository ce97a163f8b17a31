"""Prometheus metrics: the gateway's ``/metrics`` and the worker's endpoint over its pool."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RunningStack
from tests.e2e.helpers import claim, new_user, poll, register

pytestmark = pytest.mark.e2e

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    response = httpx.get(url, headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_gateway_counts_requests_latency_and_commands_by_outcome(
    client: httpx.Client, stack: RunningStack, admin: dict[str, str]
) -> None:
    """Requests by route template and status, a latency histogram, commands by outcome."""
    url = f"{stack.base_url}/metrics"
    before = scrape(url, admin)
    assert register(client, new_user()).status_code == 201
    assert client.post("/public/register", json=new_user()).status_code == 202
    assert client.post("/public/register", json={"email": "x"}).status_code == 422
    client.get("/commands/" + "0" * 32)
    after = scrape(url, admin)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = {"method": "POST", "route": "/public/register"}
    assert delta("hookline_gateway_requests_total", **route, status="201") == 1
    assert delta("hookline_gateway_requests_total", **route, status="202") == 1
    assert delta("hookline_gateway_request_duration_seconds_count", **route) == 3
    # A path parameter is counted under its template, never as the raw path.
    assert (
        delta(
            "hookline_gateway_requests_total",
            method="GET",
            route="/commands/{command_id}",
            status="404",
        )
        == 1
    )
    command = {"command": "user_management.register"}
    for outcome, count in (("succeeded", 1), ("accepted", 1), ("rejected", 1)):
        assert delta("hookline_gateway_commands_total", **command, outcome=outcome) == count


def test_worker_counts_every_task_and_hook_run_across_its_pool(
    client: httpx.Client, stack: RunningStack
) -> None:
    """Commands spread over the prefork pool are all counted, with hook runs and queue depths."""
    before = scrape_when_idle(stack.worker_metrics_url)
    accepted = [client.post("/public/register", json=new_user()) for _ in range(6)]
    assert all(
        poll(client, r.headers["Location"], headers=claim(r))["status"] == "succeeded"
        for r in accepted
    )
    after = _scrape_until_settled(stack.worker_metrics_url, before, hook_runs=6)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    task = {"task": "user_management.register"}
    assert delta("hookline_worker_tasks_total", **task, state="SUCCESS") == 6
    assert delta("hookline_worker_task_duration_seconds_count", **task) == 6
    hook = {"module": "audit", "handler": "record", "event": "user_created"}
    assert delta("hookline_hook_runs_total", **hook, outcome="succeeded") == 6
    assert (
        delta("hookline_hook_run_duration_seconds_count", module="wallet", handler="open_wallet")
        == 6
    )
    queues = {dict(labels)["queue"] for name, labels in after if name == "hookline_queue_depth"}
    assert {"events", "user_management", "wallet", "audit"} <= queues
    # Values come from the pool processes' files, summed by the main process.
    metrics_dir = Path(stack.data_dir, "metrics", "worker")
    assert list(metrics_dir.glob("counter_*.db"))


def _busy(samples: Samples) -> bool:
    return any(v for (name, _), v in samples.items() if name == "hookline_queue_depth")


def _totals(samples: Samples) -> float:
    names = ("hookline_worker_tasks_total", "hookline_hook_runs_total")
    return sum(v for (name, _), v in samples.items() if name in names)


def scrape_when_idle(url: str, timeout_s: float = 60) -> Samples:
    """A scrape taken once queues are empty and counts stop moving (earlier tests' work done)."""
    deadline = time.monotonic() + timeout_s
    previous = scrape(url)
    while True:
        time.sleep(0.5)
        current = scrape(url)
        settled = not _busy(current) and _totals(current) == _totals(previous)
        if settled or time.monotonic() > deadline:
            return current
        previous = current


def _scrape_until_settled(url: str, before: Samples, hook_runs: int) -> Samples:
    """Hooks of succeeded commands may still be running: wait (bounded) for their count."""
    deadline = time.monotonic() + 30
    audit = {"module": "audit", "handler": "record", "event": "user_created"}
    while True:
        after = scrape(url)
        runs = value(after, "hookline_hook_runs_total", **audit, outcome="succeeded")
        earlier = value(before, "hookline_hook_runs_total", **audit, outcome="succeeded")
        if runs - earlier >= hook_runs or time.monotonic() > deadline:
            return after
        time.sleep(0.2)
