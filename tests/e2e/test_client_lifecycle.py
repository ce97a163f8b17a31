"""The client's lifecycle calls against the real stack: scheduling (``not_before``),
deadlines, ``list`` and ``cancel``, and ``410`` for a command past its time to live.
(Their requests and parsing are covered against MockTransport in
tests/unit/test_client_wire.py.)
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from events import new_command_id
from hookline.client import (
    Accepted,
    AsyncClient,
    Client,
    CommandStatus,
    Conflict,
    Forbidden,
    Gone,
    InvalidRequest,
    NotFound,
    Outcome,
)
from tests.conftest import RunningStack
from tests.e2e.client_helpers import run_doc_examples
from tests.e2e.helpers import signed_up

pytestmark = pytest.mark.e2e

WAIT_S = 10
LATER = timedelta(minutes=10)


@pytest.fixture
def user(stack: RunningStack, client: httpx.Client) -> Iterator[tuple[str, Client]]:
    """A new user's id, and a client acting for them."""
    user_id, auth = signed_up(client)
    token = auth["Authorization"].removeprefix("Bearer ")
    with Client(stack.base_url, token=token) as api:
        yield user_id, api


def submitted(answer: Accepted | Outcome) -> Accepted:
    assert isinstance(answer, Accepted), answer
    return answer


def test_not_before_holds_a_command_until_then(user: tuple[str, Client]) -> None:
    """A command held back is ``scheduled``, shows its ``not_before``, then runs."""
    _, api = user
    held = submitted(api.submit("wallet.deposit", {"amount": 1}, not_before=2))
    assert held.status is CommandStatus.SCHEDULED
    document = api.get(held.command_id)
    assert document.status is CommandStatus.SCHEDULED and document.not_before is not None
    done = api.wait(held.command_id, timeout=WAIT_S)
    assert done.status is CommandStatus.SUCCEEDED
    assert done.started_at is not None and done.started_at >= document.not_before


def test_a_deadline_before_not_before_is_refused_naming_the_header(
    user: tuple[str, Client],
) -> None:
    """Such a command could never run: ``InvalidRequest`` (400) naming ``Command-Deadline``,
    and nothing was submitted. (A deadline passing unstarted: tests/faults.)"""
    _, api = user
    with pytest.raises(InvalidRequest) as refused:
        api.submit("wallet.deposit", {"amount": 1}, not_before=2, deadline=1)
    assert refused.value.status == 400 and "Command-Deadline" in str(refused.value)
    assert not api.list().items


def test_a_scheduled_command_is_cancelled_and_never_runs(user: tuple[str, Client]) -> None:
    """``cancel`` of a scheduled command answers it ``cancelled``; it is done, unrun."""
    _, api = user
    held = submitted(api.submit("wallet.deposit", {"amount": 1}, not_before=LATER))
    cancelled = api.cancel(held.command_id)
    assert cancelled.status is CommandStatus.CANCELLED
    done = api.wait(held.command_id, timeout=WAIT_S)
    assert done.status is CommandStatus.CANCELLED and done.attempts == 0


def test_cancelling_a_finished_command_is_a_conflict(user: tuple[str, Client]) -> None:
    """A command that has finished can no longer be cancelled: ``Conflict`` (409)."""
    _, api = user
    outcome = api.submit("wallet.deposit", {"amount": 1}, wait=WAIT_S)
    assert isinstance(outcome, Outcome) and outcome.command_id is not None
    with pytest.raises(Conflict) as conflict:
        api.cancel(outcome.command_id)
    assert conflict.value.status == 409


def test_list_pages_the_callers_commands_newest_first(user: tuple[str, Client]) -> None:
    """``list`` answers pages newest first with a cursor; ``list_all`` reads them all;
    ``status`` and ``name`` filter."""
    _, api = user
    ids = [submitted(api.submit("wallet.deposit", {"amount": n})).command_id for n in (1, 2, 3)]
    for command_id in ids:
        api.wait(command_id, timeout=WAIT_S)
    first = api.list(name="wallet.deposit", limit=2)
    assert [c.command_id for c in first.items] == ids[:0:-1] and first.next_cursor
    rest = api.list(name="wallet.deposit", limit=2, cursor=first.next_cursor)
    assert [c.command_id for c in rest.items] == ids[:1] and rest.next_cursor is None
    every = [c.command_id for c in api.list_all(name="wallet.deposit", limit=1)]
    assert every == ids[::-1]
    succeeded = api.list(status=CommandStatus.SUCCEEDED)
    assert {c.status for c in succeeded.items} == {CommandStatus.SUCCEEDED}
    assert api.list(status=CommandStatus.SCHEDULED).items == ()


def test_listing_another_owners_commands_is_for_admins(
    stack: RunningStack, user: tuple[str, Client], admin: dict[str, str]
) -> None:
    """A user naming another owner is ``Forbidden``; an admin sees that owner's commands."""
    user_id, api = user
    accepted = submitted(api.submit("wallet.deposit", {"amount": 1}))
    with pytest.raises(Forbidden):
        api.list(owner="user:someone-else")
    token = admin["Authorization"].removeprefix("Bearer ")
    with Client(stack.base_url, token=token) as operator:
        page = operator.list(owner=f"user:{user_id}")
    assert accepted.command_id in [c.command_id for c in page.items]


def test_a_command_past_its_time_to_live_is_gone(user: tuple[str, Client]) -> None:
    """An id made longer ago than a command lives answers ``Gone`` (410) to ``get`` and
    ``cancel``, not ``NotFound``, which a recent unknown id still gets. (The real expiry of
    a command: tests/faults/test_command_lifecycle.py.)"""
    _, api = user
    eight_days_ago = int((time.time() - 8 * 24 * 3600) * 1000)
    old = f"{eight_days_ago:012x}" + new_command_id()[12:]
    with pytest.raises(Gone):
        api.get(old)
    with pytest.raises(Gone):
        api.cancel(old)
    with pytest.raises(NotFound):
        api.get(new_command_id())


def test_the_async_client_schedules_lists_and_cancels(
    stack: RunningStack, client: httpx.Client
) -> None:
    """``AsyncClient`` does the same: a scheduled command listed, then cancelled."""
    _, auth = signed_up(client)
    token = auth["Authorization"].removeprefix("Bearer ")

    async def scenario() -> None:
        async with AsyncClient(stack.base_url, token=token) as api:
            held = submitted(await api.submit("wallet.deposit", {"amount": 1}, not_before=LATER))
            listed = [c.command_id async for c in api.list_all(status="scheduled")]
            assert listed == [held.command_id]
            assert (await api.cancel(held.command_id)).status is CommandStatus.CANCELLED

    asyncio.run(scenario())


def hookline(stack: RunningStack, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOOKLINE_URL": stack.base_url, "HOOKLINE_TOKEN": token}
    return subprocess.run(
        [sys.executable, "-m", "hookline", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_cli_schedules_lists_and_cancels(stack: RunningStack, client: httpx.Client) -> None:
    """``submit --not-before``, ``list`` and ``cancel`` print what the client answers; a
    second cancel answers the same; cancelling a finished command prints the 409 problem
    and exits 1."""
    _, auth = signed_up(client)
    token = auth["Authorization"].removeprefix("Bearer ")
    data = ("--data", '{"amount": 1}')
    held = hookline(stack, token, "submit", "wallet.deposit", *data, "--not-before", "600")
    assert held.returncode == 0, held.stderr
    command_id = json.loads(held.stdout)["command_id"]
    listed = hookline(stack, token, "list", "--status", "scheduled")
    assert listed.returncode == 0, listed.stderr
    assert [c["command_id"] for c in json.loads(listed.stdout)["items"]] == [command_id]
    cancelled = hookline(stack, token, "cancel", command_id)
    assert cancelled.returncode == 0 and json.loads(cancelled.stdout)["status"] == "cancelled"
    again = hookline(stack, token, "cancel", command_id)
    assert again.returncode == 0 and json.loads(again.stdout)["status"] == "cancelled"
    finished = hookline(stack, token, "submit", "wallet.deposit", *data, "--wait")
    assert finished.returncode == 0, finished.stderr
    done_id = json.loads(hookline(stack, token, "list").stdout)["items"][0]["command_id"]
    late = hookline(stack, token, "cancel", done_id)
    assert late.returncode == 1 and json.loads(late.stdout)["status"] == 409


def test_the_clients_doc_lifecycle_examples_run(stack: RunningStack) -> None:
    """docs/clients.md's examples, the lifecycle ones included, run in order."""
    assert run_doc_examples(stack, lifecycle=True) > 0
