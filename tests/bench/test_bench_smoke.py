"""The benchmark harness runs end to end at a tiny size (no timing is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.__main__ import main
from bench.load import parse_wrk
from tests.stack_fixtures import Servers

pytestmark = pytest.mark.bench

TINY = [
    "--commands=12",
    "--warmup=4",
    "--window=4",
    "--latency-seconds=0.5",
    "--load-seconds=1",
    "--connections=4",
    "--dispatch-number=200",
    "--concurrency=1",  # one worker start per system; the 1-process run is the same run
]
EXPECTED_FIGURES = {
    "dispatch",
    "gateway",
    "gateway_peer",
    "throughput",
    "throughput_peer",
    "latency_p50",
    "latency_p99",
    "throughput_1",
    "scaling",
}


def test_every_figure_is_measured_against_its_baseline(
    servers: Servers, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A tiny run prints every figure with both numbers, and every command completes."""
    out = tmp_path / "figures.json"
    # Its own embedded Redis (the run flushes it); the session's MongoDB-protocol server.
    assert main([*TINY, f"--mongo-url={servers.mongo_url}", f"--json={out}"]) == 0
    figures = {f["key"]: f for f in json.loads(out.read_text())["figures"]}
    assert set(figures) == EXPECTED_FIGURES
    for figure in figures.values():
        assert figure["hookline"] > 0 and figure["baseline"] > 0, figure
    for key in ("throughput", "throughput_peer"):
        details = figures[key]["details"]
        assert details["hookline_failed"] == details["baseline_failed"] == 0
    assert figures["throughput_peer"]["baseline_name"] == "hand-written Starlette + Celery"
    printed = capsys.readouterr().out
    assert "1 pipeline throughput" in printed and "bare Starlette" in printed


def test_wrk_summary_is_parsed_into_accepted_answers() -> None:
    """Requests minus non-2xx answers, over wrk's own duration."""
    output = (
        "  16 threads and 16 connections\n"
        "  41234 requests in 10.02s, 8.1MB read\n"
        "  Non-2xx or 3xx responses: 34\n"
        "Requests/sec:   4115.17\n"
    )
    result = parse_wrk(output)
    assert (result.accepted, result.other, result.elapsed_s) == (41200, 34, 10.02)
