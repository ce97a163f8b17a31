# The worked example of docs/modules.md ("Failing hooks, retries and dead letters").
from events import DeadLetterKind, HookRunStatus, utc_now
from workers.pytest_plugin import HarnessFactory
from workers.testing import Harness

WELCOME = {"user_id": "ada", "email": "ada@example.com", "username": "ada"}


def corrupt_wallet(harness: Harness) -> None:
    """A wallet whose balance is a string, as a bad import would leave it."""
    wallet = {"_id": "ada", "balance": "oops", "version": 0, "ops_in_flight": []}
    harness.collection("wallet", "wallets").insert_one({**wallet, "created_at": utc_now()})


def test_open_wallet_is_retried_after_the_repair(hookline_harness: HarnessFactory) -> None:
    def repair(seconds: float) -> None:  # runs while the retry waits (on a virtual clock)
        harness.collection("wallet", "wallets").update_one({"_id": "ada"}, {"$set": {"balance": 0}})

    harness = hookline_harness("notifications", sleep=repair)
    corrupt_wallet(harness)
    run = harness.publish("user_created", WELCOME)
    statuses = [(t.status, t.attempts) for t in run.tries("wallet.open_wallet")]
    assert statuses == [(HookRunStatus.FAILED, 1), (HookRunStatus.SUCCEEDED, 2)]
    assert [(r.hook_key, r.attempt) for r in run.retries] == [("wallet.open_wallet", 2)]
    # open_wallet is critical: notify waited for its retry, then ran once.
    run.assert_hook_order(
        "user_created", ["wallet.open_wallet", "wallet.open_wallet", "notifications.notify"]
    )
    assert run.dead_letters == ()


def test_open_wallet_ends_as_a_dead_letter(hookline_harness: HarnessFactory) -> None:
    harness = hookline_harness("notifications")
    corrupt_wallet(harness)
    run = harness.publish("user_created", WELCOME)
    assert run.hooks_run_for("user_created") == ["wallet.open_wallet"] * 4  # notify waits
    (letter,) = run.dead_letters
    assert (letter.kind, letter.hook, letter.attempts) == (
        DeadLetterKind.HOOK,
        "wallet.open_wallet",
        4,
    )
