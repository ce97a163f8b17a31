"""A command answered 503 never runs, even when the broker stored it.

A TCP proxy between the gateway and the broker lets each publish through and
swallows the broker's answer: the message is on the queue, the gateway times
out, answers 503, and refuses the command; the worker that takes the message
must drop it. Between those rounds, replies pass and commands are answered 202;
each of those runs exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import pytest

from tests.faults.conftest import StackFactory
from tests.faults.harness import (
    Deposits,
    FaultStack,
    assert_deposits_applied_once,
    sign_up,
    wait_for,
)
from tests.faults.proxy import ReplyDroppingProxy

pytestmark = pytest.mark.faults

ROUNDS = 8
REFUSED_PER_ROUND = 3
ACCEPTED_PER_ROUND = 10
NEVER_RAN = "was refused when submitted"


@pytest.mark.timeout(240)
def test_commands_answered_503_never_run_and_every_202_runs_once(
    fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    stack = fault_stack(HOOKLINE_BROKER_PUBLISH_TIMEOUT_S="1")
    broker = urlsplit(stack.redis_url)
    with ReplyDroppingProxy(broker.hostname or "127.0.0.1", broker.port or 6379) as proxy:
        stack.restart_gateway(BROKER_URL=proxy.url())  # the worker reads the broker directly
        user_id, auth = sign_up(stack.base_url)
        deposits = Deposits(stack.base_url, auth, concurrency=REFUSED_PER_ROUND)
        refused = []
        for _ in range(ROUNDS):
            proxy.drop_replies()
            refused += deposits.submit(REFUSED_PER_ROUND)
            proxy.pass_replies()
            deposits.submit(ACCEPTED_PER_ROUND)
        dropped = proxy.dropped_bytes
    assert [s.status for s in refused] == [503] * len(refused)
    assert all(s.retry_after for s in refused)
    accepted = deposits.accepted
    stack.await_all_done(accepted, timeout_s=120)
    wait_for(lambda: drained(stack), 60, "the broker to hold nothing more", stack.log_tails)
    # A refused command whose publish reached Redis was taken by the worker and dropped
    # (one whose connection failed before the publish never reached it at all).
    reached = stack.worker_log_count(NEVER_RAN)
    assert reached > 0
    assert_deposits_applied_once(stack.store, user_id, accepted)  # the 202s, once each, alone
    others = [s.status for s in deposits.results if s not in refused]
    figures(
        refused_503=len(refused),
        refused_copies_dropped_by_worker=reached,
        accepted_202=len(accepted),
        other_503=others.count(503),
        reply_bytes_swallowed=dropped,
    )


def drained(stack: FaultStack) -> bool:
    """Nothing queued and nothing held unacknowledged (retries waiting their turn included)."""
    return stack.redis.llen("wallet") == 0 and stack.redis.hlen("unacked") == 0
