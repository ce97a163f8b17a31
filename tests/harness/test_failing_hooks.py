"""Failing hooks in the harness take the bus's paths: retries, critical holds, dead letters.

The causes are real data, as in ``tests/faults/test_critical_hook.py`` (which
shows the same on a real worker): a corrupt wallet document makes
``wallet.open_wallet`` raise TypeError, and an inbox view of the wrong Redis
type makes ``notifications.notify`` fail. The hook runner, the retry policy,
the dead-letter store and the hook trace are the real ones; only the broker is
the in-process bus, whose virtual clock runs a retry without waiting for it.
A test that wants something to change while a retry waits passes ``sleep``.
"""

from __future__ import annotations

from typing import Any

from core import keys
from events import (
    Actor,
    DeadLetter,
    DeadLetterKind,
    DeadLetterStatus,
    FailureKind,
    HookRunStatus,
    utc_now,
)
from modules.notifications import INBOX_VIEW, NotificationsModule
from workers.pytest_plugin import HarnessFactory
from workers.testing import CommandRun, Harness

S = HookRunStatus
OPEN_WALLET = "wallet.open_wallet"
LATER_HOOKS = ["notifications.notify", "audit.record"]


def created(user_id: str) -> dict[str, str]:
    return {"user_id": user_id, "email": f"{user_id}@example.com", "username": user_id}


def plant_corrupt_wallet(harness: Harness, user_id: str) -> None:
    """A wallet whose balance is a string, as a bad import would leave it."""
    harness.collection("wallet", "wallets").insert_one(
        {
            "_id": user_id,
            "balance": "corrupt",
            "version": 0,
            "ops_in_flight": [],
            "created_at": utc_now(),
        }
    )


def repair_wallet(harness: Harness, user_id: str) -> None:
    harness.collection("wallet", "wallets").update_one({"_id": user_id}, {"$set": {"balance": 0}})


def tries(run: CommandRun, hook_key: str) -> list[tuple[HookRunStatus, int]]:
    return [(r.status, r.attempts) for r in run.tries(hook_key)]


def effects(harness: Harness, user_id: str) -> dict[str, int]:
    """What the hooks of a user's registration leave in MongoDB, counted."""
    return {
        "ledger": harness.collection("wallet", "ledger").count_documents({"user_id": user_id}),
        "messages": harness.collection("notifications", "messages").count_documents(
            {"user_id": user_id}
        ),
        "audit": harness.collection("audit", "events").count_documents(
            {"payload.user_id": user_id}
        ),
    }


ONCE_EACH = {"ledger": 1, "messages": 2, "audit": 2}  # audit: user_created, wallet_credited


def test_a_critical_hook_that_fails_once_is_retried_and_its_effect_applies_once(
    hookline_harness: HarnessFactory,
) -> None:
    """open_wallet fails on a corrupt wallet; while its retry waits the wallet is repaired;
    the retry succeeds, then the held-back hooks run, and the welcome credits land once."""
    waits: list[float] = []

    def repair_while_waiting(seconds: float) -> None:
        waits.append(seconds)
        repair_wallet(harness, "ada")

    harness = hookline_harness("notifications", "audit", sleep=repair_while_waiting)
    plant_corrupt_wallet(harness, "ada")
    run = harness.publish("user_created", created("ada"))

    assert tries(run, OPEN_WALLET) == [(S.FAILED, 1), (S.SUCCEEDED, 2)]
    assert "TypeError" in (run.tries(OPEN_WALLET)[0].error or "")
    run.assert_hook_order("user_created", [OPEN_WALLET, OPEN_WALLET, *LATER_HOOKS])
    (retry,) = run.retries
    assert (retry.hook_key, retry.attempt, retry.event.name) == (OPEN_WALLET, 2, "user_created")
    assert 0.5 <= retry.countdown_s <= 1.0  # the policy's first wait: base 1 s, half jittered
    assert waits == [retry.countdown_s]  # the virtual clock jumped once, by that wait
    assert run.event_names == ["user_created", "wallet_credited"]
    assert run.dead_letters == ()
    assert run.document.hooks_pending == 0
    assert effects(harness, "ada") == ONCE_EACH
    wallet: dict[str, Any] | None = harness.collection("wallet", "wallets").find_one({"_id": "ada"})
    assert wallet is not None and wallet["balance"] == 100


def test_a_critical_hook_that_always_fails_is_a_dead_letter_and_holds_the_later_hooks(
    hookline_harness: HarnessFactory,
) -> None:
    """As over the bus: every try of open_wallet fails, the last one is buried, and
    notify and audit never run for that event; another user's event runs every hook."""
    harness = hookline_harness("notifications", "audit")
    plant_corrupt_wallet(harness, "ada")
    run = harness.publish("user_created", created("ada"))

    # poison_max_retries is 3: a first try and three retries, the last one dead.
    assert tries(run, OPEN_WALLET) == [(S.FAILED, 1), (S.FAILED, 2), (S.FAILED, 3), (S.DEAD, 4)]
    assert run.hooks_run_for("user_created") == [OPEN_WALLET] * 4  # nothing after it
    assert [(r.hook_key, r.attempt) for r in run.retries] == [(OPEN_WALLET, n) for n in (2, 3, 4)]
    assert [r.due_s for r in run.retries] == sorted(r.due_s for r in run.retries)
    assert run.event_names == ["user_created"]
    (letter,) = run.dead_letters
    event_id = run.events[0].id
    assert letter.id == DeadLetter.hook_letter_id(event_id, OPEN_WALLET)
    assert (letter.kind, letter.hook, letter.name) == (
        DeadLetterKind.HOOK,
        OPEN_WALLET,
        "user_created",
    )
    assert (letter.attempts, letter.failure, letter.status) == (
        4,
        FailureKind.POISON,
        DeadLetterStatus.DEAD,
    )
    assert letter.error.startswith("TypeError")
    assert harness.services.dead_letters.get(letter.id) == letter  # the store operators read
    assert effects(harness, "ada") == {"ledger": 0, "messages": 0, "audit": 0}

    bystander = harness.publish("user_created", created("bob"))
    bystander.assert_hook_order("user_created", [OPEN_WALLET, *LATER_HOOKS])
    bystander.assert_no_failed_hooks()
    assert bystander.retries == () and bystander.dead_letters == ()
    assert effects(harness, "bob") == ONCE_EACH


def test_a_failing_hook_with_retries_left_is_retried_not_an_attribute_error(
    hookline_harness: HarnessFactory,
) -> None:
    """Regression: the in-process bus had no retry_hook, so any failing hook with retries
    left raised AttributeError. notify fails after storing its message (the inbox view has
    the wrong Redis type); audit still runs (notify is not critical); the retry, once the
    view is repaired, stores nothing twice."""

    def repair(seconds: float) -> None:
        harness.services.redis.delete(inbox)

    harness = hookline_harness("notifications", "audit", sleep=repair)
    ada = Actor(user_id="ada", roles=("user",))
    harness.submit("notifications.inbox", {}, actor=ada)  # the inbox view is built
    inbox = keys.read_model(NotificationsModule.name, INBOX_VIEW, "ada")
    harness.services.redis.delete(inbox)
    harness.services.redis.set(inbox, "not a sorted set")
    payload = {"user_id": "ada", "amount": 4, "balance": 9, "kind": "deposit", "op_id": "op-1"}
    run = harness.publish("wallet_credited", payload)

    assert run.hook_order == ["notifications.notify", "audit.record", "notifications.notify"]
    assert tries(run, "notifications.notify") == [(S.FAILED, 1), (S.SUCCEEDED, 2)]
    assert "WRONGTYPE" in (run.tries("notifications.notify")[0].error or "")
    assert [(r.hook_key, r.attempt) for r in run.retries] == [("notifications.notify", 2)]
    assert run.dead_letters == () and run.document.hooks_pending == 0
    messages = harness.collection("notifications", "messages").count_documents({"user_id": "ada"})
    assert messages == 1
