"""Structured logs: JSON lines from gateway and worker that carry the correlation id."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack
from tests.e2e.helpers import new_user

pytestmark = pytest.mark.e2e


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for raw in path.read_text(errors="replace").splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


def lines_with(path: Path, key: str, wanted: str, timeout_s: float = 15) -> list[dict[str, Any]]:
    """The JSON lines of ``path`` whose ``key`` is ``wanted``, waiting (bounded) for one."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [line for line in json_lines(path) if line.get(key) == wanted]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_gateway_and_worker_log_json_lines_with_the_request_ids(
    client: httpx.Client, stack: RunningStack
) -> None:
    """The caller's X-Correlation-Id is echoed, and logged by the gateway and the worker."""
    assert stack.log_dir is not None
    correlation = f"test-{uuid.uuid4().hex}"
    response = client.post(
        "/public/register",
        json=new_user(),
        headers={"Prefer": "wait=10", "X-Correlation-Id": correlation},
    )
    assert response.status_code == 201
    assert response.headers["x-correlation-id"] == correlation
    command_id = response.headers["Location"].rsplit("/", 1)[1]
    gateway = lines_with(stack.log_dir / "gateway.log", "correlation_id", correlation)
    assert gateway and {"time", "level", "logger", "message"} <= gateway[0].keys()
    assert any(line["logger"] == "uvicorn.access" for line in gateway)
    worker = lines_with(stack.log_dir / "worker.log", "command_id", command_id)
    assert worker and all(line["correlation_id"] == correlation for line in worker)
    assert any(command_id in line["message"] for line in worker)


def test_a_request_without_an_id_gets_one(client: httpx.Client) -> None:
    """Without X-Correlation-Id the gateway makes one and returns it."""
    first = client.get("/health").headers["x-correlation-id"]
    second = client.get("/health").headers["x-correlation-id"]
    assert first and second and first != second
