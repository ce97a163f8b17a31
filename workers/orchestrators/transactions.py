"""Transactions orchestrator: a transfer is a debit and a credit, each applied exactly once.

The transfer record is written first (its id derives from the command), then
the debit, then the credit, each an idempotent wallet operation. A redelivered
or retried command walks the same steps and skips what is done, so a worker
dying between debit and credit ends with both applied once.
"""

from __future__ import annotations

import contextlib

from pymongo.errors import DuplicateKeyError

from core.failpoints import failpoint
from core.read_models import caller_key
from events import CommandResult, NotFound
from events.paging import PageQuery
from modules.transactions import HISTORY_VIEW, TransactionsModule
from modules.transactions.models import Transfer, TransferRequest, TransferResult, TransferState
from modules.wallet import InsufficientFunds
from workers.context import CommandContext
from workers.documents import from_document, to_document
from workers.listing import page_of
from workers.orchestrator import Orchestrator
from workers.orchestrators.user_management import UserManagementOrchestrator
from workers.orchestrators.wallet import WalletOrchestrator


class TransactionsOrchestrator(Orchestrator[TransactionsModule]):
    module_class = TransactionsModule

    def transfer(self, ctx: CommandContext, request: TransferRequest) -> CommandResult:
        transfer = self._record(self._new_transfer(ctx, request))
        wallets = self.peer(WalletOrchestrator)
        try:
            debit = wallets.apply(self.module.debit(transfer))
        except InsufficientFunds:
            self.collection("transfers").delete_one(
                {"_id": transfer.id, "state": TransferState.PENDING}
            )
            raise
        failpoint("transactions.after_debit")
        wallets.apply(self.module.credit(transfer))
        failpoint("transactions.after_credit")
        self.collection("transfers").update_one(
            {"_id": transfer.id}, {"$set": {"state": TransferState.COMPLETED}}
        )
        ctx.emit("transfer_completed", self.module.completed_event(transfer))
        for user_id in (transfer.from_user_id, transfer.to_user_id):
            item = self.module.history_item(transfer, user_id)
            self.read_models.append(self.module.name, HISTORY_VIEW, user_id, [item])
        return self.result(TransferResult(transfer_id=transfer.id, balance=debit.balance_after))

    def history(self, ctx: CommandContext, query: PageQuery) -> CommandResult:
        """Rebuilds the caller's history view from MongoDB and answers the page asked for."""
        user_id = ctx.actor.user_id or ""
        documents = (
            self.collection("transfers")
            .find(
                {
                    "$or": [{"from_user_id": user_id}, {"to_user_id": user_id}],
                    "state": TransferState.COMPLETED,
                }
            )
            .sort("created_at", -1)
        )
        items = [self.module.history_item(from_document(Transfer, d), user_id) for d in documents]
        self.read_models.replace(self.module.name, HISTORY_VIEW, caller_key(ctx.actor), items)
        return self.result(page_of(items, query))

    def _new_transfer(self, ctx: CommandContext, request: TransferRequest) -> Transfer:
        users = self.peer(UserManagementOrchestrator)
        sender = users.find_by_id(ctx.actor.user_id or "")
        if sender is None:
            raise NotFound("the caller's user no longer exists")
        recipient = users.find_by_username(request.to_username)
        return self.module.new_transfer(
            request,
            (sender.id, sender.username),
            None if recipient is None else (recipient.id, recipient.username),
            ctx.command.id,
            ctx.now,
        )

    def _record(self, transfer: Transfer) -> Transfer:
        """Insert the transfer; a redelivered command continues with the stored one."""
        with contextlib.suppress(DuplicateKeyError):
            self.collection("transfers").insert_one(to_document(transfer))
            return transfer
        stored = self.collection("transfers").find_one({"_id": transfer.id})
        return transfer if stored is None else from_document(Transfer, stored)
