"""OpenTelemetry across the bus: one deposit is one trace, from the gateway's request to the
worker's task and every hook, received by an OTLP/HTTP receiver the test runs (decoded with
``opentelemetry-proto``), on a private stack whose processes have ``OTEL_*`` set."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from core import history
from tests.faults.harness import FaultStack, sign_up, wait_for
from tests.otlp_receiver import OtlpReceiver, ReceivedSpan

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FaultStack, OtlpReceiver]]:
    with OtlpReceiver() as receiver:
        settings = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "200",  # export within a fraction of a second
        }
        stack = FaultStack(Path(tmp_path_factory.mktemp("traced")), None, settings)
        try:
            stack.start()
            yield stack, receiver
        finally:
            stack.close()


def _from_gateway(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> bool:
    lineage = ancestors(span, by_id)
    return bool(lineage) and lineage[-1].service == "hookline-gateway"


def ancestors(span: ReceivedSpan, by_id: dict[str, ReceivedSpan]) -> list[ReceivedSpan]:
    found = []
    while span.parent_span_id in by_id:
        span = by_id[span.parent_span_id]
        found.append(span)
    return found


def test_one_deposit_is_one_trace_from_the_gateway_through_the_worker_to_its_hooks(
    traced: tuple[FaultStack, OtlpReceiver],
) -> None:
    stack, receiver = traced
    _, auth = sign_up(stack.base_url)
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        deposited = client.post(
            "/wallet/deposit", json={"amount": 3}, headers={**auth, "Prefer": "wait=15"}
        )
        assert deposited.status_code == 200, deposited.text
        command_id = deposited.headers["Location"].rsplit("/", 1)[-1]
        trace_id = client.get(f"/commands/{command_id}", headers=auth).json()["trace_id"]
    assert isinstance(trace_id, str) and len(trace_id) == 32
    # The console's command page shows it from the history, which keeps it past Redis's TTL.
    # The gateway's write (which carries it) may land after the worker's: each process
    # batches its own history writes.
    kept = wait_for(
        lambda: stack.store[history.COLLECTION].find_one(
            {"_id": command_id, "trace_id": {"$exists": True}}
        ),
        5,
        "the history's copy of the trace id",
    )
    assert kept["trace_id"] == trace_id

    def hook_spans() -> list[ReceivedSpan]:
        """Both hook spans, once every span up to the gateway's request is in too (each
        process exports on its own schedule; a parent ends, and is sent, after its child)."""
        names = {"hook notifications.notify", "hook audit.record"}
        mine = [s for s in receiver.spans if s.trace_id == trace_id]
        by_id = {s.span_id: s for s in mine}
        found = [s for s in mine if s.name in names]
        rooted = all(_from_gateway(s, by_id) for s in found)
        return found if len(found) == 2 and rooted else []

    hooks = wait_for(hook_spans, 20, "the deposit's trace, from its request to its hooks")
    spans = [s for s in receiver.spans if s.trace_id == trace_id]
    by_id = {s.span_id: s for s in spans}
    roots = [s for s in spans if s.parent_span_id not in by_id]
    shape = sorted((s.service, s.name, s.span_id, s.parent_span_id) for s in spans)
    assert len(roots) == 1, shape  # one trace, one root: the gateway request
    (root,) = roots
    assert root.service == "hookline-gateway" and "POST" in root.name
    worker = [
        s for s in spans if s.service == "hookline-worker" and s.name == "command wallet.deposit"
    ]
    assert worker, sorted({(s.service, s.name) for s in spans})
    for hook in hooks:
        lineage = ancestors(hook, by_id)
        assert hook.service == "hookline-worker"
        assert lineage[-1] == root  # every hook span descends from the gateway's request
        assert worker[0] in lineage  # through the worker's run of the command
    assert any(
        s.service == "hookline-worker" and "wallet.deposit" in s.name and s.name.startswith("run")
        for s in spans
    ), sorted({s.name for s in spans})
    assert any(s.attributes.get("db.system") == "mongodb" for s in spans)
    assert any(s.attributes.get("db.system") == "redis" for s in spans)


def test_a_scheduled_command_released_later_stays_in_its_requests_trace(
    traced: tuple[FaultStack, OtlpReceiver],
) -> None:
    """The releasing worker publishes it in its envelope's trace context."""
    stack, receiver = traced
    _, auth = sign_up(stack.base_url)
    later = (datetime.now(UTC) + timedelta(seconds=2)).isoformat()
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        accepted = client.post(
            "/wallet/deposit", json={"amount": 3}, headers={**auth, "Command-Not-Before": later}
        )
        assert accepted.status_code == 202, accepted.text
        trace_id = client.get(accepted.headers["Location"], headers=auth).json()["trace_id"]

    def ran() -> list[ReceivedSpan]:
        """The run, once every span from it up to the gateway's request is in (the task's
        span ends, and is exported, after the command's)."""
        mine = [s for s in receiver.spans if s.trace_id == trace_id]
        by_id = {s.span_id: s for s in mine}
        runs = [s for s in mine if s.name == "command wallet.deposit"]
        return runs if runs and all(_from_gateway(s, by_id) for s in runs) else []

    runs = wait_for(ran, 20, "the scheduled deposit's run, rooted at its request")
    assert len(runs) == 1


def test_a_hooks_retry_stays_in_its_commands_trace_and_each_try_has_its_outcome(
    traced: tuple[FaultStack, OtlpReceiver],
) -> None:
    """A worker whose hooks all fail after their effect retries them later, in new tasks:
    the second try's span descends from the gateway's request too; the first says failed."""
    stack, receiver = traced
    _, auth = sign_up(stack.base_url)
    stack.stop_worker()
    stack.env["HOOKLINE_FAILPOINTS"] = "hooks.after_effect=raise"
    stack.start_worker()
    try:
        with httpx.Client(base_url=stack.base_url, timeout=30) as client:
            accepted = client.post("/wallet/deposit", json={"amount": 3}, headers=auth)
            assert accepted.status_code == 202, accepted.text
            trace_id = client.get(accepted.headers["Location"], headers=auth).json()["trace_id"]

        def retried() -> list[ReceivedSpan]:
            """The trace once both tries and every span up to the gateway's request are in
            (each process exports its spans on its own schedule)."""
            mine = [s for s in receiver.spans if s.trace_id == trace_id]
            by_id = {s.span_id: s for s in mine}
            tries = [s for s in mine if s.name == "hook audit.record"]
            seconds = [s for s in tries if s.attributes.get("hookline.attempt") == 2]
            firsts = [s for s in tries if s.attributes.get("hookline.attempt") == 1]
            rooted = seconds and all(_from_gateway(s, by_id) for s in seconds)
            return mine if firsts and rooted else []

        spans = wait_for(retried, 30, "the audit hook's second try, rooted at the gateway")
    finally:
        stack.stop_worker()
        del stack.env["HOOKLINE_FAILPOINTS"]
        stack.start_worker()
    by_id = {s.span_id: s for s in spans}
    audits = [s for s in spans if s.name == "hook audit.record"]
    (event_id, *_) = [
        s.attributes["hookline.event_id"] for s in audits if s.attributes["hookline.attempt"] == 2
    ]
    tries = {
        s.attributes["hookline.attempt"]: s
        for s in audits
        if s.attributes["hookline.event_id"] == event_id
    }
    assert tries[1].attributes["hookline.outcome"] == "failed"
    lineage = ancestors(tries[2], by_id)
    assert lineage and lineage[-1].service == "hookline-gateway"
    assert tries[1] not in lineage  # the retry is its own task, not inside the failed try
