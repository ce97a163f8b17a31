"""The Python receiver in docs/webhooks.md, run as written against a real delivery."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import RunningStack
from tests.e2e.helpers import signed_up
from tests.stack_fixtures import free_port

pytestmark = pytest.mark.e2e

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
WAIT = {"Prefer": "wait=10"}


def receiver_code() -> str:
    found = re.search(r"## A receiver in Python.*?```python\n(.*?)```", DOC.read_text(), re.S)
    assert found is not None, "docs/webhooks.md has no receiver"
    return found.group(1)


def test_the_python_receiver_in_the_docs_verifies_a_real_delivery(
    stack: RunningStack, client: httpx.Client, tmp_path: Path
) -> None:
    user_id, auth = signed_up(client)
    port = free_port()
    endpoint = client.post(
        "/webhooks/endpoints",
        json={"url": f"http://127.0.0.1:{port}/hooks", "events": ["wallet_credited"]},
        headers={**auth, **WAIT},
    ).json()
    script = tmp_path / "receiver.py"
    script.write_text(receiver_code())
    output = tmp_path / "receiver.out"
    env = {**os.environ, "WEBHOOK_SECRET": endpoint["secret"], "PORT": str(port)}
    with output.open("wb") as out:
        process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=out)
    try:
        response = client.post("/wallet/deposit", json={"amount": 9}, headers={**auth, **WAIT})
        assert response.status_code == 200, response.text
        deadline = time.monotonic() + 20
        while "wallet_credited" not in output.read_text() and time.monotonic() < deadline:
            time.sleep(0.2)
        (line,) = output.read_text().splitlines()
        assert line.startswith("wallet_credited ") and f'"user_id": "{user_id}"' in line
        assert '"amount": 9' in line
    finally:
        process.terminate()
        process.wait(10)
