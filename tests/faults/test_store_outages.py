"""Stores stopped mid-run: MongoDB for 10 s, then Redis (state and broker) during submission.

MongoDB down: every try fails with a transient error and is retried with
backoff, so every command completes once the store is back. Redis down: the
gateway cannot record or publish, so it answers 503 with Retry-After and
nothing of that request ever runs; every 202 completes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest

from tests.faults.conftest import StackFactory
from tests.faults.harness import Deposits, assert_deposits_applied_once, sign_up, wait_for

pytestmark = pytest.mark.faults

MONGO_DOWN_S = 10.0
REDIS_DOWN_S = 3.0


@pytest.mark.timeout(180)
def test_every_command_completes_after_mongodb_is_stopped_for_10_s(
    fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    """300 deposits, MongoDB stopped for 10 s a third of the way: none lost, none doubled."""
    stack = fault_stack()
    user_id, auth = sign_up(stack.base_url)
    deposits = Deposits(stack.base_url, auth)
    deposits.submit(300)
    ids = deposits.accepted
    assert len(ids) == 300
    wait_for(lambda: stack.statuses(ids).count("succeeded") >= 100, 60, "a third done")

    stack.stop_mongo()
    stopped = time.monotonic()
    done_at_stop = stack.statuses(ids).count("succeeded")
    down = stack.await_health(lambda status: status == 503, "/health to report MongoDB down")
    time.sleep(max(0.0, MONGO_DOWN_S - (time.monotonic() - stopped)))
    stack.start_mongo()
    restarted = time.monotonic()
    stack.await_all_done(ids, timeout_s=120)
    drained_s = time.monotonic() - restarted
    stack.await_health(lambda status: status == 200, "/health to recover")

    assert down["checks"]["mongo"].startswith("down")
    assert_deposits_applied_once(stack.store, user_id, ids)
    assert stack.store["hookline_dead_letters"].count_documents({}) == 0
    attempts = stack.attempts(ids)
    figures(
        deposits=len(ids),
        done_when_stopped=done_at_stop,
        down_s=restarted - stopped,
        commands_tried_again=sum(a > 1 for a in attempts),
        most_tries=max(attempts),
        drained_after_restart_s=drained_s,
    )


@pytest.mark.timeout(180)
def test_redis_stopped_during_submission_refuses_with_503_and_loses_no_202(
    fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    """Every 202 completes exactly once; every 503 carries Retry-After and never runs.

    When Redis dies after it stored a group of published commands but before it answered,
    the gateway cannot even record the refusal; those commands stay unconfirmed through the
    restart (append-only file), and the worker that takes them refuses them once
    ``publish_fence_s`` has passed (the fence).

    The worker runs supervised: kombu can die on a lost Redis connection ("Unrecoverable
    error: AttributeError ... 'hostname'"), and a restart policy is what deployments have.
    """
    stack = fault_stack()
    stack.supervise = True
    user_id, auth = sign_up(stack.base_url)
    deposits = Deposits(stack.base_url, auth, concurrency=10)
    submitting = threading.Thread(target=deposits.submit, args=(600, 0.012))
    submitting.start()
    time.sleep(2.0)
    stack.stop_redis()
    stopped = time.monotonic()
    down = stack.await_health(lambda status: status == 503, "/health to report Redis down")
    time.sleep(max(0.0, REDIS_DOWN_S - (time.monotonic() - stopped)))
    stack.start_redis()
    down_s = time.monotonic() - stopped
    submitting.join(120)
    assert not submitting.is_alive()

    statuses = Counter(s.status for s in deposits.results)
    assert set(statuses) <= {202, 503}, statuses
    refused = [s for s in deposits.results if s.status == 503]
    assert refused and statuses[202] > 0
    assert all(s.retry_after is not None for s in refused)
    assert down["checks"]["redis"].startswith("down")
    started = time.monotonic()
    stack.await_all_done(deposits.accepted, timeout_s=120)
    assert_deposits_applied_once(stack.store, user_id, deposits.accepted)
    figures(
        submitted=len(deposits.results),
        accepted_202=statuses[202],
        refused_503=statuses[503],
        redis_down_s=down_s,
        worker_restarts=stack.worker_restarts,
        drained_after_restart_s=time.monotonic() - started,
    )
