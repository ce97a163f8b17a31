"""A worker or a gateway without a bus seal key refuses to start, naming the setting."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from hookline.processes import spawn, terminate
from hookline.stack import ensure_jwt_secret, gateway_command, worker_command
from tests.stack_fixtures import Servers, free_port

pytestmark = pytest.mark.e2e
EXIT_TIMEOUT_S = 60


@pytest.mark.parametrize("role", ["worker", "gateway"])
def test_a_process_without_a_seal_key_stops_naming_the_setting(
    role: str, servers: Servers, tmp_path: Path
) -> None:
    ensure_jwt_secret(tmp_path)  # everything else it needs is there
    env = {
        **{k: v for k, v in os.environ.items() if k != "HOOKLINE_BUS_SEAL_KEY"},
        "REDIS_URL": servers.redis_url,
        "MONGO_URL": servers.mongo_url,
        "HOOKLINE_DATA_DIR": str(tmp_path),
        "HOOKLINE_MONGO_DB": "no_key",
    }
    argv = worker_command() if role == "worker" else gateway_command(free_port())
    log = tmp_path / f"{role}.log"
    with log.open("wb") as output:
        process = spawn(argv, env, output=output)
    try:
        code = process.wait(EXIT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        terminate(process)
        pytest.fail(f"the {role} started without a seal key:\n{log.read_text()[-2000:]}")
    assert code != 0
    assert "HOOKLINE_BUS_SEAL_KEY" in log.read_text()
