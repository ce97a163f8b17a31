"""``hookline submit`` and ``hookline status`` against a live gateway, run as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack
from tests.e2e.helpers import login, new_user, register

pytestmark = pytest.mark.e2e

CLI_TIMEOUT_S = 60


def hookline(
    stack: RunningStack, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOOKLINE_URL": stack.base_url}
    if token is not None:
        env["HOOKLINE_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "hookline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


def signed_up_token(client: httpx.Client) -> str:
    user = new_user()
    assert register(client, user).status_code == 201
    token: str = login(client, user)["access_token"]
    return token


def test_submit_prints_the_accepted_command(stack: RunningStack, client: httpx.Client) -> None:
    """``submit`` without --wait prints the 202 body; the command then succeeds."""
    result = hookline(stack, "submit", "user_management.register", "--data", json.dumps(new_user()))
    assert result.returncode == 0, result.stderr
    accepted: dict[str, Any] = json.loads(result.stdout)
    assert accepted["status"] == "accepted"
    assert accepted["status_url"] == f"/commands/{accepted['command_id']}"


def test_submit_wait_follows_the_command_and_prints_its_document(
    stack: RunningStack, client: httpx.Client
) -> None:
    """``submit --wait`` shows progress on stderr and prints the finished command."""
    token = signed_up_token(client)
    result = hookline(
        stack, "submit", "wallet.deposit", "--data", '{"amount": 3}', "--wait", token=token
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["name"] == "wallet.deposit" and document["status"] == "succeeded"
    assert document["result"]["body"]["balance"] == 103
    progress = result.stderr.strip().splitlines()
    assert progress[-1].startswith("wallet.deposit succeeded")
    assert any("wallet_credited → audit.record succeeded" in line for line in progress)


def test_submit_wait_exits_1_when_the_command_fails(
    stack: RunningStack, client: httpx.Client
) -> None:
    """A refused command (insufficient funds) exits 1 and prints its problem in the document."""
    token = signed_up_token(client)
    result = hookline(
        stack, "submit", "wallet.withdraw", "--data", '{"amount": 100000}', "--wait", token=token
    )
    assert result.returncode == 1
    document = json.loads(result.stdout)
    assert document["status"] == "failed" and document["error"]["status"] == 409


def test_submit_refuses_bad_input_before_sending(stack: RunningStack) -> None:
    """An unknown command or data that is not a JSON object exits 1 with a message."""
    unknown = hookline(stack, "submit", "wallet.nope")
    assert unknown.returncode == 1 and "no command 'wallet.nope'" in unknown.stderr
    not_json = hookline(stack, "submit", "wallet.deposit", "--data", "{amount")
    assert not_json.returncode == 1 and "--data is not JSON" in not_json.stderr


def test_status_prints_the_command_and_follow_streams_it(
    stack: RunningStack, client: httpx.Client
) -> None:
    """``status ID`` prints the document; ``--follow`` prints progress lines then the same."""
    response = register(client, new_user())
    command_id = response.headers["Location"].rsplit("/", 1)[1]
    # register is anonymous; a claim may start with "-", so it is passed as --claim=VALUE
    claim = (f"--claim={response.headers['Command-Claim']}",)
    assert hookline(stack, "status", command_id).returncode == 1  # by id alone: 404
    plain = hookline(stack, "status", command_id, *claim)
    assert plain.returncode == 0, plain.stderr
    assert json.loads(plain.stdout)["status"] == "succeeded"
    followed = hookline(stack, "status", command_id, "--follow", *claim)
    assert followed.returncode == 0, followed.stderr
    assert json.loads(followed.stdout) == json.loads(plain.stdout)
    lines = followed.stderr.strip().splitlines()
    assert lines[0] == "user_management.register succeeded · 0 hook run(s)"
    assert "user_created → wallet.open_wallet succeeded" in lines[1]


def test_status_of_an_unknown_command_exits_1(stack: RunningStack) -> None:
    """An unknown id prints the 404 problem and exits 1; --follow says so on stderr."""
    plain = hookline(stack, "status", "0" * 32)
    assert plain.returncode == 1 and json.loads(plain.stdout)["status"] == 404
    followed = hookline(stack, "status", "0" * 32, "--follow")
    assert followed.returncode == 1 and "404" in followed.stderr
