"""What the gateway shows a stranger (review finding 10), over real HTTP.

``/health`` answers anyone with ``ok`` or ``down`` per part, the cause only in the
log; the module status routes ask for ``health:read``; no answer names the
server; ``/metrics`` asks for ``metrics:read``, and the listener
``HOOKLINE_METRICS_PORT`` opens serves the same metrics unauthenticated on
loopback only. The refusing gateway here has a broker nothing listens on (a real
connection refused) and that listener switched on.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hookline.processes import spawn, terminate
from hookline.stack import gateway_command
from tests.conftest import STACK_START_TIMEOUT_S, RunningStack
from tests.e2e.helpers import signed_up
from tests.security.conftest import assert_refused
from tests.security.test_api_keys import mint
from tests.security.test_idempotency_gateways import broker_down, gateway_process
from tests.stack_fixtures import free_port

pytestmark = pytest.mark.e2e

MODULE_ROUTES = ("/modules/status", "/modules/user_management/health")


@dataclass(frozen=True)
class RefusingGateway:
    base_url: str
    metrics_port: int
    log_path: Path


@pytest.fixture(scope="module")
def refusing(
    stack: RunningStack, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RefusingGateway]:
    """A gateway on the session's stores whose broker does not answer; metrics port open."""
    metrics_port = free_port()
    env = {
        **stack.env,
        "BROKER_URL": f"redis://127.0.0.1:{free_port()}/0",
        "HOOKLINE_METRICS_PORT": str(metrics_port),
        "HOOKLINE_LOG_FORMAT": "json",
    }
    log_path = tmp_path_factory.mktemp("refusing-surface") / "gateway.log"
    with gateway_process(env, log_path, broker_down) as base_url:
        yield RefusingGateway(base_url, metrics_port, log_path)


def test_health_says_only_ok_or_down_and_logs_the_cause(refusing: RefusingGateway) -> None:
    """A down broker is ``down`` to the caller; its exception is in the log at WARNING."""
    response = httpx.get(f"{refusing.base_url}/health", timeout=10)
    assert response.status_code == 503
    body = response.json()
    workers = body["checks"]["workers"]
    assert workers >= 1  # the session stack's worker
    # Exactly this: no exception class, no message (it used to say "down: ConnectionError").
    assert body == {
        "status": "unavailable",
        "checks": {"redis": "ok", "broker": "down", "mongo": "ok", "workers": workers},
    }
    logged = [
        json.loads(line)
        for line in refusing.log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    causes = [
        line
        for line in logged
        if line["logger"] == "api_gateway.health_routes"
        and re.match(r"health: broker is down \(\w+: ", line["message"])
    ]
    assert causes and {line["level"] for line in causes} == {"WARNING"}


def test_module_status_routes_need_health_read(client: httpx.Client, admin: dict[str, str]) -> None:
    """Module error text is for operators: anonymous 401, a user 403, an admin 200."""
    _, user = signed_up(client)
    for path in MODULE_ROUTES:
        assert_refused(client.get(path), 401)
        assert_refused(client.get(path, headers=user), 403)
        assert client.get(path, headers=admin).status_code == 200
    assert client.get("/health").status_code == 200  # load balancers need no credentials


def test_no_answer_names_the_server(client: httpx.Client, stack: RunningStack) -> None:
    """No ``server`` header on app answers, refusals, or uvicorn's own 400; ``date`` stays."""
    answers = [client.get("/health"), client.get("/metrics"), client.get("/nowhere")]
    for response in answers:
        assert "server" not in response.headers, response.headers
        assert "date" in response.headers
    raw = _raw_answer(stack.base_url, b"NOT HTTP AT ALL\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400")
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    assert b"\r\nserver:" not in head and b"\r\ndate:" in head


def test_metrics_need_metrics_read(client: httpx.Client, admin: dict[str, str]) -> None:
    """Anonymous 401, a user 403, an admin or a key scoped metrics:read 200, another key 403."""
    _, user = signed_up(client)
    assert_refused(client.get("/metrics"), 401)
    assert_refused(client.get("/metrics", headers=user), 403)
    scoped = {"X-API-Key": mint(client, admin, "metrics:read")["api_key"]}
    other = {"X-API-Key": mint(client, admin, "notifications:read")["api_key"]}
    assert_refused(client.get("/metrics", headers=other), 403)
    for headers in (admin, scoped):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 200
        assert "hookline_gateway_requests_total" in response.text


def test_metrics_port_serves_them_unauthenticated_on_loopback_only(
    refusing: RefusingGateway,
) -> None:
    """HOOKLINE_METRICS_PORT: the same registry, no credentials, bound to 127.0.0.1."""
    assert_refused(httpx.get(f"{refusing.base_url}/metrics", timeout=10), 401)
    response = httpx.get(f"http://127.0.0.1:{refusing.metrics_port}/metrics", timeout=10)
    assert response.status_code == 200
    assert 'route="/metrics",status="401"' in response.text  # the request just refused
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", refusing.metrics_port), timeout=5).close()


def test_a_metrics_port_already_taken_stops_the_gateway(
    stack: RunningStack, tmp_path: Path
) -> None:
    """The operator asked for that listener: no gateway starts without it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = {**stack.env, "HOOKLINE_METRICS_PORT": str(taken.getsockname()[1])}
        log_path = tmp_path / "gateway.log"
        with log_path.open("wb") as log:
            gateway = spawn(gateway_command(free_port()), env, output=log)
        try:
            code = gateway.wait(STACK_START_TIMEOUT_S)
        finally:
            terminate(gateway)
    assert code != 0
    assert "HOOKLINE_METRICS_PORT=" in log_path.read_text()


def _raw_answer(base_url: str, request: bytes) -> bytes:
    """What the server writes back to ``request`` sent as is, until it closes."""
    url = httpx.URL(base_url)
    assert url.port is not None
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        with contextlib.suppress(TimeoutError):
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    return b"".join(chunks)
