"""Flower behind a login (review finding 12), started as ``hookline up`` starts it.

Its task table lists every command's id and argument summary, so nobody reads a
page or an API answer without the ``flower_basic_auth`` login, and it listens
on loopback only. ``hookline flower`` (docker-compose.yml runs it) refuses to
start without a well-formed login, and never prints the one it refused.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.leaks import flower_process
from tests.stack_fixtures import free_port

pytestmark = pytest.mark.e2e

PAGES = ("/", "/tasks", "/api/tasks", "/api/workers")


@pytest.fixture(scope="module")
def flower(
    stack_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.URL]:
    """Flower on the session's broker, its login from the stack's local secrets."""
    # It must not switch on task events in the session's workers.
    env = {**stack_env, "FLOWER_ENABLE_EVENTS": "false"}
    log_path = tmp_path_factory.mktemp("flower") / "flower.log"
    with flower_process(env, free_port(), log_path) as url:
        yield httpx.URL(url)


def test_every_page_needs_the_login(flower: httpx.URL) -> None:
    """No login or a wrong one: 401 (pages ask for basic auth); the login: 200."""
    anonymous = flower.copy_with(username=None, password=None)
    wrong = flower.copy_with(password="not-the-password")
    for path in PAGES:
        refused = httpx.get(str(anonymous.join(path)), timeout=10)
        assert refused.status_code == 401, path
        if not path.startswith("/api/"):  # a browser asks for the login
            assert refused.headers["www-authenticate"] == 'Basic realm="flower"'
        assert httpx.get(str(wrong.join(path)), timeout=10).status_code == 401, path
        assert httpx.get(str(flower.join(path)), timeout=10).status_code == 200, path


def test_the_login_is_on_no_command_line(flower: httpx.URL) -> None:
    """Flower gets it in its environment: no process's command line, readable by all, has it."""
    assert flower.password
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):  # the process ended while we looked
            assert flower.password.encode() not in cmdline.read_bytes(), cmdline


def test_only_its_healthcheck_and_metrics_stay_open(flower: httpx.URL) -> None:
    """What Flower itself leaves open (docker compose's healthcheck uses the first)."""
    anonymous = flower.copy_with(username=None, password=None)
    assert httpx.get(str(anonymous.join("/healthcheck")), timeout=10).text == "OK"
    assert httpx.get(str(anonymous.join("/metrics")), timeout=10).status_code == 200


def test_it_listens_on_loopback_only(flower: httpx.URL) -> None:
    assert flower.host == "127.0.0.1" and flower.port is not None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", flower.port), timeout=5).close()


@pytest.mark.parametrize("login", [None, "no-colon-here-s3cret", "admin:"])
def test_hookline_flower_refuses_to_start_without_a_login(
    stack_env: dict[str, str], tmp_path: Path, login: str | None
) -> None:
    """No flower_basic_auth anywhere in the chain, or a malformed one: exit 1, value unsaid."""
    env = {
        **stack_env,
        "HOOKLINE_DATA_DIR": str(tmp_path / "data"),  # no local login there
        "HOOKLINE_SECRETS_DIR": str(tmp_path / "secrets"),
        "HOOKLINE_KUBERNETES_SECRETS_DIR": str(tmp_path / "run-secrets"),
        "HOOKLINE_FLOWER_PORT": str(free_port()),
    }
    env.pop("HOOKLINE_FLOWER_BASIC_AUTH", None)
    if login is not None:
        env["HOOKLINE_FLOWER_BASIC_AUTH"] = login
    done = subprocess.run(
        [sys.executable, "-m", "hookline", "flower"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "flower_basic_auth" in done.stderr
    if login is not None:
        assert login not in done.stdout + done.stderr
