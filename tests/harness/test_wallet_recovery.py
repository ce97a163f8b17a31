"""A wallet operation whose try died half way is finished by the next try, once, and its
ledger entry says the balance that change left, even after later changes."""

from __future__ import annotations

from typing import Any, cast

from events import Actor
from modules.wallet.models import EntryKind, InFlight, Operation
from workers.orchestrators.wallet import IN_FLIGHT, WalletOrchestrator
from workers.pytest_plugin import HarnessFactory
from workers.testing import Harness

ADA = {"email": "ada@example.com", "username": "ada", "password": "correct horse battery"}


def _started(harness: Harness) -> tuple[WalletOrchestrator, str]:
    """The wallet orchestrator, and a registered user with 100 credits."""
    user_id: str = harness.submit("user_management.register", ADA).body["user_id"]
    return cast(WalletOrchestrator, harness.runtime.modules.loaded["wallet"]), user_id


def _died_after_the_balance(wallets: Any, user_id: str, op: Operation, mark: str) -> None:
    """What a try leaves that changed the balance and died before the ledger entry."""
    wallets.update_one(
        {"_id": user_id}, {"$inc": {"balance": op.delta, "version": 1}, "$push": {IN_FLIGHT: mark}}
    )


def test_the_next_try_writes_the_balance_the_change_left_not_the_balance_now(
    hookline_harness: HarnessFactory,
) -> None:
    """+5 died after the balance (100 → 105), then +1 ran (106): the +5 entry says 105."""
    harness = hookline_harness("wallet")
    wallet, user_id = _started(harness)
    op = Operation(op_id="died", user_id=user_id, delta=5, kind=EntryKind.DEPOSIT)
    wallets = harness.collection("wallet", "wallets")
    _died_after_the_balance(wallets, user_id, op, InFlight(op_id="died", balance_after=105).mark)
    harness.submit("wallet.deposit", {"amount": 1}, actor=Actor(user_id=user_id))

    assert wallet.apply(op).balance_after == 105
    assert wallet.apply(op).balance_after == 105  # and again: the entry as stored
    stored = harness.collection("wallet", "wallets").find_one({"_id": user_id})
    assert stored is not None and (stored["balance"], stored[IN_FLIGHT]) == (106, [])
    assert harness.collection("wallet", "ledger").count_documents({"_id": "died"}) == 1


def test_a_mark_without_its_balance_is_settled_with_the_balance_known(
    hookline_harness: HarnessFactory,
) -> None:
    """A mark written before balances were kept (the op id alone) is settled once, cleared."""
    harness = hookline_harness("wallet")
    wallet, user_id = _started(harness)
    op = Operation(op_id="old", user_id=user_id, delta=5, kind=EntryKind.DEPOSIT)
    _died_after_the_balance(harness.collection("wallet", "wallets"), user_id, op, "old")

    assert wallet.apply(op).balance_after == 105
    stored = harness.collection("wallet", "wallets").find_one({"_id": user_id})
    assert stored is not None and (stored["balance"], stored[IN_FLIGHT]) == (105, [])
