"""A serialized user's line survives its head's worker being SIGKILLed mid-run.

Five deposits of one user: the first is running (stalled 1 s at
``wallet.after_balance_update``, its balance changed, its ledger entry not yet
written), the other four parked behind it, when the whole worker is killed and a
new one started. The head's message comes back (late acks; the Redis broker's
visibility timeout), runs once its lease has ended, and its end wakes the rest,
which run in acceptance order, each applied once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime

import httpx
import pytest

from core import keys
from tests.faults.conftest import StackFactory
from tests.faults.harness import assert_deposits_applied_once, sign_up, wait_for

pytestmark = pytest.mark.faults

DEPOSITS = 5
# A short lease and visibility timeout (the startup rule: 6 > 3 + the longest retry wait, 2).
TIMINGS = {"HOOKLINE_TASK_TIME_LIMIT_S": "3", "HOOKLINE_VISIBILITY_TIMEOUT_S": "6"}
BOUND_S = 60.0


@pytest.mark.timeout(180)
def test_a_line_whose_head_was_killed_mid_run_goes_on_in_order(
    fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    """Killed with its head running and the rest parked, the line finishes every deposit
    once, one at a time, in acceptance order."""
    stack = fault_stack(HOOKLINE_FAILPOINTS="wallet.after_balance_update=sleep(1)", **TIMINGS)
    user_id, auth = sign_up(stack.base_url)
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        ids = [
            client.post("/wallet/deposit", json={"amount": 1}, headers=auth).json()["command_id"]
            for _ in range(DEPOSITS)
        ]

        def head_running_rest_parked() -> bool:
            parked = [stack.redis.hexists(keys.command(i), "parked") for i in ids[1:]]
            return stack.statuses(ids[:1]) == ["running"] and all(parked)

        wait_for(head_running_rest_parked, BOUND_S, "the head to run, the rest to park")
        stack.kill_worker()
        stack.start_worker()
        stack.await_all_done(ids, BOUND_S)
        documents = [client.get(f"/commands/{i}", headers=auth).json() for i in ids]

    intervals = [
        (datetime.fromisoformat(d["started_at"]), datetime.fromisoformat(d["finished_at"]))
        for d in documents
    ]
    for (_, finished), (started, _) in itertools.pairwise(intervals):
        assert finished < started
    assert documents[0]["attempts"] >= 2, "the kill did not hit the head"
    assert_deposits_applied_once(stack.store, user_id, ids)
    figures(
        head_attempts=documents[0]["attempts"],
        from_head_rerun_s=(intervals[-1][1] - intervals[0][0]).total_seconds(),
    )
