"""``hookline worker`` and ``hookline gateway``: each runs one process with the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hookline.processes import spawn, terminate
from hookline.stack import ensure_local_secrets, ensure_redis
from tests.stack_fixtures import Servers, free_port

pytestmark = pytest.mark.stack

START_TIMEOUT_S = 60.0


@pytest.fixture
def env(servers: Servers, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private Redis (so no test stack's queues are consumed) and a fresh database."""
    redis_server = ensure_redis(f"redis://127.0.0.1:{free_port()}/0", tmp_path)
    ensure_local_secrets(tmp_path)
    yield {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "BROKER_URL": redis_server.url,
        "MONGO_URL": servers.mongo_url,
        "HOOKLINE_MONGO_DB": f"cli_{uuid.uuid4().hex[:8]}",
        "HOOKLINE_DATA_DIR": str(tmp_path),
        "HOOKLINE_GATEWAY_PORT": str(free_port()),
        "HOOKLINE_WORKER_METRICS_PORT": str(free_port()),
    }
    redis_server.stop()


def wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()[-3000:]
        try:
            response = httpx.get(url, timeout=1)
        except httpx.HTTPError:
            time.sleep(0.2)
            continue
        if response.status_code == 200:
            return response
    pytest.fail(f"{url} did not answer:\n{log.read_text()[-3000:]}")


def test_worker_serves_metrics_from_its_own_directory(env: dict[str, str], tmp_path: Path) -> None:
    """``hookline worker`` runs Celery, metrics kept under the data dir and served on its port."""
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        worker = spawn([sys.executable, "-m", "hookline", "worker"], env, output=output)
    try:
        url = f"http://127.0.0.1:{env['HOOKLINE_WORKER_METRICS_PORT']}/metrics"
        text = wait_for(url, worker, log).text
        assert 'hookline_queue_depth{queue="wallet"} 0.0' in text
        assert (tmp_path / "metrics" / "worker").is_dir()
    finally:
        terminate(worker)
    assert '"logger": "celery.apps.worker"' in log.read_text()  # JSON lines by default


def test_gateway_serves_the_api_documents(env: dict[str, str], tmp_path: Path) -> None:
    """``hookline gateway`` runs uvicorn on HOOKLINE_GATEWAY_PORT with the declared routes."""
    log = tmp_path / "gateway.log"
    with log.open("wb") as output:
        gateway = spawn([sys.executable, "-m", "hookline", "gateway"], env, output=output)
    try:
        base = f"http://127.0.0.1:{env['HOOKLINE_GATEWAY_PORT']}"
        document = wait_for(f"{base}/openapi.json", gateway, log).json()
        assert "/wallet/deposit" in document["paths"]
        assert httpx.get(f"{base}/health", timeout=5).status_code == 503  # no worker yet
    finally:
        terminate(gateway)
