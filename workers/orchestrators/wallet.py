"""Wallet orchestrator: ledgered balance changes that apply exactly once.

A change is an ``Operation`` with a unique id. ``apply`` makes it happen once
across redeliveries, concurrent duplicates and crashes, with no multi-document
transaction. The balance changes only by an update conditioned on the wallet's
version, and that same update marks the operation as in flight on the wallet;
the ledger entry is written next, and only then is the mark removed. Reading
the wallet before the ledger means a try always sees one of: the mark, the
ledger entry, or a version that a concurrent change will have moved on.
A crash between the update and the ledger leaves the mark, which holds the
balance the change left; the next try finishes the job with that balance in
the entry, however many changes came in between.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument

from core.failpoints import failpoint
from events import CommandResult, HookSink, NotFound, Received, Transient, utc_now
from modules.user_management.models import UserCreated
from modules.wallet import BALANCE_VIEW, WalletModule
from modules.wallet.models import (
    AmountRequest,
    Balance,
    BalanceResult,
    InFlight,
    LedgerEntry,
    Operation,
)
from workers.context import CommandContext
from workers.documents import from_document, insert_once
from workers.orchestrator import Orchestrator

IN_FLIGHT = "ops_in_flight"
# Optimistic tries per operation before giving up to the retry policy.
MAX_CONFLICTS = 50


class WalletContention(Transient):
    """The wallet changed under every try; the retry policy tries again later."""


class WalletOrchestrator(Orchestrator[WalletModule]):
    module_class = WalletModule

    def open_wallet(self, event: Received[UserCreated], sink: HookSink) -> None:
        """On ``user_created``: an empty wallet, then the welcome credits as an operation
        whose id is the run id, so a re-run finds it applied and emits the same event."""
        user_id = event.payload.user_id
        self.collection("wallets").update_one(
            {"_id": user_id},
            {
                "$setOnInsert": {
                    "balance": 0,
                    "version": 0,
                    IN_FLIGHT: [],
                    "created_at": event.occurred_at,
                }
            },
            upsert=True,
        )
        operation = self.module.welcome(user_id, event.id, sink.run_id)
        if operation.delta:
            entry = self.apply(operation)
            sink.emit(*self.module.changed_event(operation, entry.balance_after))

    def deposit(self, ctx: CommandContext, request: AmountRequest) -> CommandResult:
        return self._change(
            ctx, self.module.deposit(self._caller(ctx), request.amount, ctx.command.id)
        )

    def withdraw(self, ctx: CommandContext, request: AmountRequest) -> CommandResult:
        return self._change(
            ctx, self.module.withdrawal(self._caller(ctx), request.amount, ctx.command.id)
        )

    def balance(self, ctx: CommandContext) -> CommandResult:
        """Rebuilds the balance read model from MongoDB."""
        wallet = self._wallet(self._caller(ctx))
        view = self._publish_balance(wallet)
        return self.result(view)

    def apply(self, operation: Operation) -> LedgerEntry:
        """Apply ``operation`` exactly once and return its ledger entry."""
        for _ in range(MAX_CONFLICTS):
            wallet = self._wallet(operation.user_id)
            flight = _in_flight(wallet, operation.op_id)
            if flight is not None:
                return self._settle(operation, flight, wallet)  # a try that did not finish
            done = self.collection("ledger").find_one({"_id": operation.op_id})
            if done is not None:
                return from_document(LedgerEntry, done, "op_id")
            if wallet["balance"] + operation.delta < 0:
                raise self.module.insufficient(operation, wallet["balance"])
            flight = InFlight(
                op_id=operation.op_id, balance_after=wallet["balance"] + operation.delta
            )
            changed = self._change_balance(operation, wallet["version"], flight)
            if changed is not None:
                failpoint("wallet.after_balance_update")
                return self._settle(operation, flight, changed)
        raise WalletContention(f"wallet {operation.user_id} kept changing; will retry")

    def _change_balance(
        self, operation: Operation, version: int, flight: InFlight
    ) -> dict[str, Any] | None:
        """Change the balance if the wallet is still at ``version``, marking the operation
        in flight in the same update; the wallet after, or None if it had moved on."""
        changed: dict[str, Any] | None = self.collection("wallets").find_one_and_update(
            {"_id": operation.user_id, "version": version},
            {
                "$inc": {"balance": operation.delta, "version": 1},
                "$push": {IN_FLIGHT: flight.mark},
                "$set": {"updated_at": utc_now()},
            },
            return_document=ReturnDocument.AFTER,
        )
        return changed

    def _settle(
        self, operation: Operation, flight: InFlight, wallet: dict[str, Any]
    ) -> LedgerEntry:
        """Write the ledger entry for an applied change, then clear its in-flight mark.

        The entry says the balance the change left, kept in the mark, however much later
        it is written. The entry returned is the one the ledger holds: when an earlier try
        (which died before clearing the mark) or a concurrent one wrote it first, that one
        stands.
        """
        balance_after = flight.balance_after
        if balance_after is None:  # a mark from before balances were kept: the best known
            balance_after = wallet["balance"]
        entry = self._ledger_entry(
            LedgerEntry(**operation.model_dump(), balance_after=balance_after, created_at=utc_now())
        )
        failpoint("wallet.after_ledger_insert")
        self.collection("wallets").update_one(
            {"_id": operation.user_id}, {"$pull": {IN_FLIGHT: flight.mark}}
        )
        self._publish_balance(wallet)
        return entry

    def _ledger_entry(self, entry: LedgerEntry) -> LedgerEntry:
        """Insert ``entry`` unless its operation has one already; the entry stored."""
        return insert_once(self.collection("ledger"), entry, "op_id")

    def _change(self, ctx: CommandContext, operation: Operation) -> CommandResult:
        entry = self.apply(operation)
        ctx.emit(*self.module.changed_event(operation, entry.balance_after))
        return self.result(BalanceResult(balance=entry.balance_after))

    def _wallet(self, user_id: str) -> dict[str, Any]:
        wallet = self.collection("wallets").find_one({"_id": user_id})
        if wallet is None:
            raise NotFound(f"user {user_id} has no wallet")
        return wallet

    def _publish_balance(self, wallet: dict[str, Any]) -> Balance:
        updated_at: datetime = wallet.get("updated_at") or wallet["created_at"]
        view = Balance(user_id=wallet["_id"], balance=wallet["balance"], updated_at=updated_at)
        self.read_models.put(
            self.module.name, BALANCE_VIEW, view.user_id, view, version=wallet["version"] + 1
        )
        return view

    @staticmethod
    def _caller(ctx: CommandContext) -> str:
        if ctx.actor.user_id is None:
            raise NotFound("only users have wallets")
        return ctx.actor.user_id


def _in_flight(wallet: dict[str, Any], op_id: str) -> InFlight | None:
    """The wallet's in-flight mark of ``op_id``, if a try changed the balance and stopped."""
    marks = (InFlight.parse(mark) for mark in wallet[IN_FLIGHT])
    return next((flight for flight in marks if flight.op_id == op_id), None)
