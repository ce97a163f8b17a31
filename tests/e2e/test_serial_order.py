"""Per-key order end to end: one user's deposits run one at a time in acceptance order
across two worker processes, while another user's commands run beside them.

A private stack (``tests.faults.harness.FaultStack``: its own Redis, MongoDB-protocol
server, a prefork worker of 2 processes and a gateway) stalls every deposit 50 ms at
``wallet.after_balance_update``, so two deposits running at once would overlap.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import httpx
import pytest

from core import keys
from events import Actor, SerializeBy, serial_key
from tests.e2e.helpers import signed_up
from tests.faults.harness import FaultStack, wait_for

pytestmark = pytest.mark.e2e

DEPOSIT_STALL_S = 0.05
DEPOSITS = 100
OTHER_DEPOSITS = 5
# A's deposits accepted before B's are submitted: A's line is busy for seconds after.
B_AFTER = 50
DONE_BOUND_S = 90.0


@pytest.fixture(scope="module")
def slow_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    """A private stack whose deposits each take 50 ms more; its sweep runs every second."""
    stack = FaultStack(
        tmp_path_factory.mktemp("serial"),
        None,
        {"HOOKLINE_FAILPOINTS": f"wallet.after_balance_update=sleep({DEPOSIT_STALL_S})"},
    )
    try:
        stack.start()
        yield stack
    finally:
        stack.close()


@dataclass(frozen=True)
class Run:
    """A finished command as its document shows it."""

    command_id: str
    status: str
    started_at: datetime
    finished_at: datetime


def deposit(client: httpx.Client, auth: dict[str, str], amount: int) -> str:
    """One deposit, answered 202 once the gateway confirmed it (it joined its line)."""
    response = client.post("/wallet/deposit", json={"amount": amount}, headers=auth)
    assert response.status_code == 202, response.text
    command_id: str = response.json()["command_id"]
    return command_id


def runs(client: httpx.Client, auth: dict[str, str], ids: Sequence[str]) -> list[Run]:
    found = []
    for command_id in ids:
        document = client.get(f"/commands/{command_id}", headers=auth).json()
        found.append(
            Run(
                command_id,
                document["status"],
                datetime.fromisoformat(document["started_at"]),
                datetime.fromisoformat(document["finished_at"]),
            )
        )
    return found


def balance(client: httpx.Client, auth: dict[str, str]) -> int:
    value: int = client.get("/wallet/balance", headers=auth).json()["balance"]
    return value


def overlaps(a: Run, b: Run) -> bool:
    return a.started_at < b.finished_at and b.started_at < a.finished_at


def test_one_users_deposits_never_overlap_while_another_users_proceed(
    slow_stack: FaultStack,
) -> None:
    """100 deposits of user A, each submitted after the previous 202, run one at a time in
    acceptance order ([started, finished] disjoint and ordered); B's deposits, submitted
    halfway, all finish while A's line is still busy, running beside A's."""
    with httpx.Client(base_url=slow_stack.base_url, timeout=30) as client:
        _, a_auth = signed_up(client)
        _, b_auth = signed_up(client)
        a_ids: list[str] = []
        b_ids: list[str] = []
        b_sender = threading.Thread(
            target=lambda: b_ids.extend(submit_all(slow_stack.base_url, b_auth, OTHER_DEPOSITS))
        )
        for amount in range(1, DEPOSITS + 1):
            a_ids.append(deposit(client, a_auth, amount))
            if amount == B_AFTER:
                b_sender.start()
        b_sender.join()
        slow_stack.await_all_done([*a_ids, *b_ids], DONE_BOUND_S)

        a_runs, b_runs = runs(client, a_auth, a_ids), runs(client, b_auth, b_ids)
        assert {r.status for r in [*a_runs, *b_runs]} == {"succeeded"}
        for earlier, later in itertools.pairwise(a_runs):
            assert earlier.finished_at < later.started_at, (earlier, later)
        assert balance(client, a_auth) == 100 + DEPOSITS * (DEPOSITS + 1) // 2
        assert balance(client, b_auth) == 100 + OTHER_DEPOSITS
    assert max(r.finished_at for r in b_runs) < a_runs[-1].started_at
    assert any(overlaps(a, b) for a in a_runs for b in b_runs)


def sweep_score(stack: FaultStack, line: str) -> float:
    """When the line was last looked at (parked in, or swept)."""
    score = cast(float | None, stack.redis.zscore(keys.SERIAL_WAITING, line))
    return score or 0.0


def submit_all(base_url: str, auth: dict[str, str], count: int) -> list[str]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        return [deposit(client, auth, 1) for _ in range(count)]


def test_the_sweep_heals_a_line_whose_head_finished_without_waking_it(
    slow_stack: FaultStack,
) -> None:
    """Deposits behind a head that is running park (acknowledged, kept in Redis); the head
    then finishes without the end's wake-up (as if its worker died right after): the sweep
    finds the line and the deposits run, in order."""
    with httpx.Client(base_url=slow_stack.base_url, timeout=30) as client:
        user_id, auth = signed_up(client)
        line = keys.serial_line(serial_key(SerializeBy.ACTOR, Actor(user_id=user_id)))
        head = keys.command(uuid.uuid4().hex)
        slow_stack.redis.hset(head, mapping={"status": "running", "serial_line": line})
        slow_stack.redis.rpush(line, head)
        ids = [deposit(client, auth, 1) for _ in range(3)]
        wait_for(
            lambda: all(slow_stack.redis.hexists(keys.command(i), "parked") for i in ids),
            DONE_BOUND_S,
            "the deposits to park behind the running head",
            slow_stack.log_tails,
        )
        looked_at = sweep_score(slow_stack, line)
        wait_for(
            lambda: sweep_score(slow_stack, line) > looked_at,
            DONE_BOUND_S,
            "a sweep to look at the line",
            slow_stack.log_tails,
        )
        assert slow_stack.statuses(ids) == ["accepted"] * 3  # a running head keeps its turn

        slow_stack.redis.hset(head, "status", "succeeded")  # no wake-up
        slow_stack.await_all_done(ids, DONE_BOUND_S)
        done = runs(client, auth, ids)
        for earlier, later in itertools.pairwise(done):
            assert earlier.finished_at < later.started_at
        assert balance(client, auth) == 103
