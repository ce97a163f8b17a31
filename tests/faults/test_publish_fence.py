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

from core import keys
from tests.faults.conftest import StackFactory
from tests.faults.harness import (
    Deposits,
    FaultStack,
    assert_deposits_applied_once,
    broker_url_for,
    sign_up,
    wait_for,
)
from tests.faults.proxy import ReplyDroppingProxy

pytestmark = pytest.mark.faults

ROUNDS = 5
REFUSED_PER_ROUND = 3
ACCEPTED_PER_ROUND = 10
NEVER_RAN = "was refused when submitted"


@pytest.mark.timeout(240)
@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_commands_answered_503_never_run_and_every_202_runs_once(
    broker: str, fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    stack = fault_stack(broker_url_for(broker), HOOKLINE_BROKER_PUBLISH_TIMEOUT_S="1")
    upstream = urlsplit(stack.env["BROKER_URL"])
    with ReplyDroppingProxy(upstream.hostname or "127.0.0.1", upstream.port or 0) as proxy:
        # Only the gateway goes through the proxy; the worker reads the broker directly.
        stack.restart_gateway(BROKER_URL=proxy.url_like(stack.env["BROKER_URL"]))
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
    wait_for(lambda: drained(stack), 60, "the worker to be idle", stack.log_tails)
    # A refused command whose publish reached Redis was taken by the worker and dropped
    # (one whose connection failed before the publish never reached it at all).
    reached = stack.worker_log_count(NEVER_RAN)
    assert reached > 0
    assert_deposits_applied_once(stack.store, user_id, accepted)  # the 202s, once each, alone
    others = [s.status for s in deposits.results if s not in refused]
    figures(
        broker=broker,
        refused_503=len(refused),
        refused_copies_dropped_by_worker=reached,
        accepted_202=len(accepted),
        other_503=others.count(503),
        reply_bytes_swallowed=dropped,
    )


def drained(stack: FaultStack) -> bool:
    """The worker has taken everything: no command record is left unconfirmed, and no
    Celery task is queued, reserved or scheduled (retries waiting their turn included)."""
    documents = [k for k in stack.redis.scan_iter(keys.command("*")) if k.count(":") == 2]
    statuses = [stack.redis.hget(k, "status") for k in documents]
    return "publishing" not in statuses and stack.worker_idle()


@pytest.mark.timeout(180)
def test_commands_published_but_never_confirmed_are_fenced_by_the_worker(
    fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    """The gateway publishes, then fails before it can confirm or refuse (the failpoint
    ``gateway.after_publish``): 503, and the broker surely holds the command. The worker
    takes it, finds it unconfirmed, looks again until ``publish_fence_s`` has passed, then
    refuses it; the commands after the failure run once each."""
    stack = fault_stack(HOOKLINE_BROKER_PUBLISH_TIMEOUT_S="1", HOOKLINE_PUBLISH_FENCE_S="8")
    user_id, auth = sign_up(stack.base_url)
    stack.restart_gateway(HOOKLINE_FAILPOINTS="gateway.after_publish=raise")
    deposits = Deposits(stack.base_url, auth, concurrency=4)
    refused = deposits.submit(12)
    assert [s.status for s in refused] == [503] * len(refused)
    stack.restart_gateway()
    accepted = [s.command_id for s in deposits.submit(40) if s.command_id]
    assert len(accepted) == 40
    stack.await_all_done(accepted, timeout_s=60)
    wait_for(
        lambda: stack.worker_log_count(NEVER_RAN) >= len(refused),
        60,
        "the worker to fence every unconfirmed command",
        stack.log_tails,
    )
    assert_deposits_applied_once(stack.store, user_id, accepted)
    figures(
        unconfirmed_503=len(refused),
        fenced_by_worker=stack.worker_log_count(NEVER_RAN),
        rechecks_before_the_fence=stack.worker_log_count("CommandUnconfirmed"),
        accepted_202=len(accepted),
    )
