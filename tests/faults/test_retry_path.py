"""A failure path broken off halfway loses nothing: the message goes back to the broker.

After a try fails, the worker notes the failure (the command ``retrying``, the
hook's try) and sends the retry; only then is the message in hand acknowledged.
Anything may break off that path: Celery can deliver a task's soft time limit
twice, the second landing in the middle of it; Redis or the broker may go away.
Here the ``retry.before_send`` failpoint raises on half the retries of a real
worker, after the failure was noted and before the retry is sent, while deposits
and hooks fail on a third of their tries: every deposit is still applied once and
every hook's effect is there once.

The hard time limit is the last resort: it stops the process of a task whose
failure path itself hangs (a store frozen mid-write), and the message goes back
to the broker rather than being acknowledged as a failure.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.faults.conftest import StackFactory
from tests.faults.harness import Deposits, assert_deposits_applied_once, sign_up

pytestmark = pytest.mark.faults

DEPOSITS = 40
HARD_LIMIT_DEPOSITS = 6
# Retries come quickly, so a broken-off one is soon tried again.
FAST_RETRIES = {"HOOKLINE_RETRY_BACKOFF_BASE_S": "0.1", "HOOKLINE_RETRY_BACKOFF_MAX_S": "0.5"}
FAILPOINTS = ",".join(
    (
        "wallet.after_ledger_insert=raise:0.3",
        "hooks.after_effect=raise:0.3",
        "retry.before_send=raise:0.5",
    )
)


@pytest.mark.timeout(120)
def test_a_retry_broken_off_before_it_is_sent_returns_the_message_to_the_broker(
    fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    stack = fault_stack(
        HOOKLINE_FAILPOINTS=FAILPOINTS,
        # Failpoint failures count as poison: enough tries that none runs out of them.
        HOOKLINE_POISON_MAX_RETRIES="30",
        **FAST_RETRIES,
    )
    user_id, auth = sign_up(stack.base_url)
    deposits = Deposits(stack.base_url, auth)
    deposits.submit(DEPOSITS)
    ids = deposits.accepted
    assert len(ids) == DEPOSITS
    stack.await_all_done(ids, timeout_s=60)

    assert set(stack.statuses(ids)) == {"succeeded"}
    assert_deposits_applied_once(stack.store, user_id, ids)
    returned = stack.worker_log_count("back to the broker: FailpointFired")
    assert returned > 0, "the failpoint never broke off a retry"
    figures(deposits=DEPOSITS, messages_returned_to_the_broker=returned)


@pytest.mark.timeout(180)
def test_a_task_stopped_at_its_hard_time_limit_goes_back_to_the_broker(
    fault_stack: StackFactory, figures: Callable[..., None]
) -> None:
    """Half the deposits stall until their soft time limit; their failure path then stalls
    too, until the hard limit stops the process. Each message comes back and runs again."""
    stack = fault_stack(
        HOOKLINE_FAILPOINTS="wallet.after_ledger_insert=sleep(5):0.5,retry.before_send=sleep(5)",
        HOOKLINE_TASK_TIME_LIMIT_S="3",  # the soft limit at 2 s
        HOOKLINE_VISIBILITY_TIMEOUT_S="10",
        **FAST_RETRIES,
    )
    user_id, auth = sign_up(stack.base_url)
    deposits = Deposits(stack.base_url, auth)
    deposits.submit(HARD_LIMIT_DEPOSITS)
    ids = deposits.accepted
    assert len(ids) == HARD_LIMIT_DEPOSITS
    stack.await_all_done(ids, timeout_s=120)

    assert_deposits_applied_once(stack.store, user_id, ids)
    stopped = stack.worker_log_count("Hard time limit (3s) exceeded for wallet.deposit")
    assert stopped > 0, "no deposit reached its hard time limit"
    figures(deposits=HARD_LIMIT_DEPOSITS, stopped_at_the_hard_limit=stopped)
