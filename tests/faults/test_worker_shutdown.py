"""SIGTERM to a busy worker: running work finishes within the soft shutdown, or goes back.

With ``REMAP_SIGTERM=SIGQUIT`` Celery's SIGTERM is a soft shutdown: running
tasks get ``worker_soft_shutdown_s`` to finish, then the ones still running are
cancelled and, being late-acked, returned to the broker with the prefetched
messages. A new worker completes everything, each effect once.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence

import pytest

from tests.faults.conftest import StackFactory
from tests.faults.harness import (
    Deposits,
    FaultStack,
    assert_deposits_applied_once,
    sign_up,
    wait_for,
)

pytestmark = pytest.mark.faults

SOFT_SHUTDOWN_S = 2.0
DEPOSITS = 300
# A command cancelled at the soft shutdown runs again once its lease (the time limit) has
# ended: 10 s rather than the harness's 20 s, still above the 8 s a frozen store call
# waits (so the time limit never ends one), with the visibility timeout above the time
# limit plus the longest retry wait (10 + 2 s).
STUCK_TIMINGS = {"HOOKLINE_TASK_TIME_LIMIT_S": "10", "HOOKLINE_VISIBILITY_TIMEOUT_S": "14"}


def hanging(stack: FaultStack, ids: Sequence[str]) -> list[str]:
    """The commands running now and still running a second later: a command seen running
    as the store froze may have been past its last store call, and finish."""

    def running() -> set[str]:
        return {i for i, s in zip(ids, stack.statuses(ids), strict=True) if s == "running"}

    before = running()
    time.sleep(1.0)
    return sorted(before & running())


@pytest.mark.timeout(120)
def test_sigterm_to_a_busy_worker_loses_nothing(
    fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    """Work running at SIGTERM finishes; the rest waits in the broker for the next worker.

    Whatever the timing, each of the deposits is applied exactly once in the end."""
    stack = fault_stack(HOOKLINE_WORKER_SOFT_SHUTDOWN_S=str(SOFT_SHUTDOWN_S))
    user_id, auth = sign_up(stack.base_url)
    deposits = Deposits(stack.base_url, auth)
    deposits.submit(DEPOSITS)
    ids = deposits.accepted
    wait_for(lambda: stack.statuses(ids).count("succeeded") >= DEPOSITS // 4, 60, "progress")

    exit_s = stack.stop_worker()
    assert stack.worker is not None and stack.worker.returncode is not None
    statuses = stack.statuses(ids)
    stack.start_worker()
    stack.await_all_done(ids, timeout_s=90)

    assert_deposits_applied_once(stack.store, user_id, ids)
    figures(
        deposits=DEPOSITS,
        done_at_exit=statuses.count("succeeded"),
        running_at_exit=statuses.count("running"),
        left_for_the_next_worker=len(ids) - statuses.count("succeeded"),
        exit_s=exit_s,
    )


@pytest.mark.timeout(240)
def test_sigterm_returns_work_stuck_past_the_soft_shutdown_to_the_broker(
    fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    """With MongoDB frozen, running tasks cannot finish: they are cancelled, requeued, rerun."""
    stack = fault_stack(
        HOOKLINE_WORKER_SOFT_SHUTDOWN_S=str(SOFT_SHUTDOWN_S),
        HOOKLINE_STORE_TIMEOUT_MS="8000",
        **STUCK_TIMINGS,
    )
    user_id, auth = sign_up(stack.base_url)
    deposits = Deposits(stack.base_url, auth)
    deposits.submit(100)
    ids = deposits.accepted
    wait_for(lambda: stack.statuses(ids).count("succeeded") >= 20, 60, "progress")

    mongo = stack.mongo_server.process
    assert mongo is not None
    os.kill(mongo.pid, signal.SIGSTOP)  # every store call now hangs
    try:
        # One user's deposits run in line: wait for the head to hang in the frozen store.
        stuck = wait_for(lambda: hanging(stack, ids), 10, "a command hanging in the frozen store")
        exit_s = stack.stop_worker()
    finally:
        os.kill(mongo.pid, signal.SIGCONT)
    stack.start_worker()
    # 100 deposits of one user run in line; the one stuck holds it until its lease ends.
    stack.await_all_done(ids, timeout_s=180)

    assert stuck, "no command was running when the store froze"
    assert all(a >= 2 for a in stack.attempts(stuck))  # cancelled, then run again
    assert_deposits_applied_once(stack.store, user_id, ids)
    figures(stuck_at_sigterm=len(stuck), exit_s=exit_s, deposits=len(ids))
