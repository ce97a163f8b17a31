"""A worker SIGKILLed five times under load loses nothing and doubles nothing (both brokers).

The worker (main process and pool together) is killed at five points of a run
of 1,000 deposits of 1 by ten users and restarted at once. Late acks keep every message it
held: RabbitMQ returns them when the connection drops, the Redis broker once
the visibility timeout has passed; the command lease keeps a redelivered
command from running twice at once; ledger entries keyed by command id keep
the effects once.

What the claim needs is a backlog at every kill, not a number of deposits: the
kills come at shares of the run's progress, each after the restarted worker has
completed another 12 % of them, with the rest still queued.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest

from tests.faults.conftest import StackFactory
from tests.faults.harness import (
    Deposits,
    FaultStack,
    assert_deposits_applied_once,
    broker_url_for,
    iterate_progress,
    sign_up,
)

pytestmark = pytest.mark.faults

DEPOSITS = 1000
USERS = 10
# The lease (the time limit) and the Redis broker's visibility timeout bound how long a
# kill's messages take to come back: shorter than the harness's, keeping its rule
# (visibility timeout > time limit + longest retry wait, 8 + 2 s).
TIMINGS = {"HOOKLINE_TASK_TIME_LIMIT_S": "8", "HOOKLINE_VISIBILITY_TIMEOUT_S": "12"}
KILLS = 5
# Kill once this share of the deposits has completed: spread over the run, after the
# restarted worker has been busy again for a while.
KILL_POINTS = (0.3, 0.42, 0.54, 0.66, 0.78)
RUN_BOUND_S = 240.0
IN_FLIGHT = ("running", "retrying")


@dataclass
class Kill:
    """One SIGKILL: when, which commands were in flight, and when the last of them finished."""

    at: float
    in_flight: list[int]
    back_at: float | None = None

    def observe(self, now: float, statuses: Sequence[str | None]) -> None:
        if self.back_at is None and all(statuses[i] == "succeeded" for i in self.in_flight):
            self.back_at = now

    @property
    def recovery_s(self) -> float:
        assert self.back_at is not None, "the commands in flight at a kill never finished"
        return self.back_at - self.at


def kill_during_run(stack: FaultStack, ids: list[str]) -> list[Kill]:
    """Poll progress; at each kill point SIGKILL the worker and start a new one."""
    points = [round(share * len(ids)) for share in KILL_POINTS]
    kills: list[Kill] = []
    for now, statuses in iterate_progress(stack, ids, RUN_BOUND_S):
        for kill in kills:
            kill.observe(now, statuses)
        if points and statuses.count("succeeded") >= points[0]:
            points.pop(0)
            in_flight = [i for i, status in enumerate(statuses) if status in IN_FLIGHT]
            stack.kill_worker()
            kills.append(Kill(time.monotonic(), in_flight))
            stack.start_worker()
    return kills


@pytest.mark.timeout(300)
@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_1000_deposits_survive_five_sigkills_of_the_worker(
    broker: str, fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    """0 lost, 0 duplicate ledger entries, exact balance; redeliveries and recovery measured."""
    stack = fault_stack(broker_url_for(broker), **TIMINGS)
    started = time.monotonic()
    # Several users: one user's deposits run one at a time (``serialize_by``), and the kills
    # must find commands running side by side.
    users = [sign_up(stack.base_url) for _ in range(USERS)]
    batches = [Deposits(stack.base_url, auth) for _, auth in users]
    for batch in batches:
        batch.submit(DEPOSITS // USERS)
    ids = [command_id for batch in batches for command_id in batch.accepted]
    assert len(ids) == DEPOSITS, {s.status for batch in batches for s in batch.results}

    kills = kill_during_run(stack, ids)
    stack.await_all_done(ids, timeout_s=60)

    assert len(kills) == KILLS
    for (user_id, _), batch in zip(users, batches, strict=True):
        assert_deposits_applied_once(stack.store, user_id, batch.accepted)
    attempts = stack.attempts(ids)
    figures(
        broker=broker,
        deposits=DEPOSITS,
        kills=len(kills),
        in_flight_at_kills=sum(len(k.in_flight) for k in kills),
        redeliveries=sum(a - 1 for a in attempts),
        commands_run_more_than_once=sum(a > 1 for a in attempts),
        longest_recovery_s=max(k.recovery_s for k in kills),
        resent_as_lost=stack.worker_log_count("lost by the broker"),
        total_s=time.monotonic() - started,
    )
