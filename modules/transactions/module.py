"""Transfers of credits between users, and each user's history."""

from __future__ import annotations

import uuid
from datetime import datetime

from events import EventSpec, InvalidInput, NotFound
from events.paging import Page, PageQuery, sort_key
from modules.base import BaseModule
from modules.declarations import Index, Permission, ReadModelKind, Route, RouteMode
from modules.transactions.models import (
    HistoryItem,
    Transfer,
    TransferCompleted,
    TransferRequest,
    TransferResult,
    TransferState,
)
from modules.wallet.models import EntryKind, Operation

_TRANSFER_ID_NAMESPACE = uuid.UUID("5a3c7d1e-9f2b-4c8e-a1d6-0e4b7c9f2a31")
# The Redis view this module publishes (``read_models``); its query route serves it.
HISTORY_VIEW = "history"


class TransactionsModule(BaseModule):
    name = "transactions"
    read_models = (HISTORY_VIEW,)
    description = "Transfers between users, each debit matched by its credit exactly once."
    dependencies = ("user_management", "wallet")
    permissions = (
        Permission("transactions:transfer", description="Send credits to another user"),
        Permission("transactions:read", description="Read your transfers"),
    )
    routes = (
        Route(
            "POST",
            "/transactions/transfer",
            "transfer",
            request=TransferRequest,
            permission="transactions:transfer",
            users_only=True,
            summary="Send credits to another user",
            serialize_by="actor",
            response=TransferResult,
        ),
        Route(
            "GET",
            "/transactions",
            "history",
            request=PageQuery,
            permission="transactions:read",
            users_only=True,
            mode=RouteMode.QUERY,
            read_model=HISTORY_VIEW,
            read_model_kind=ReadModelKind.LIST,
            summary="The caller's transfers, newest first",
            response=Page,
        ),
    )
    events = (
        EventSpec(
            "transfer_completed",
            TransferCompleted,
            "Credits moved between users.",
            subjects=("from_user_id", "to_user_id"),
        ),
    )
    indexes = (
        Index("transfers", (("from_user_id", 1), ("created_at", -1))),
        Index("transfers", (("to_user_id", 1), ("created_at", -1))),
    )

    @staticmethod
    def new_transfer(
        request: TransferRequest,
        sender: tuple[str, str],
        recipient: tuple[str, str] | None,
        command_id: str,
        now: datetime,
    ) -> Transfer:
        """A pending transfer; refuses an unknown recipient or the sender themself."""
        if recipient is None:
            raise NotFound(f"to_username: no user {request.to_username!r}", field="to_username")
        if recipient[0] == sender[0]:
            raise InvalidInput("to_username: cannot transfer to yourself", field="to_username")
        return Transfer(
            id=uuid.uuid5(_TRANSFER_ID_NAMESPACE, command_id).hex,
            from_user_id=sender[0],
            from_username=sender[1],
            to_user_id=recipient[0],
            to_username=recipient[1],
            amount=request.amount,
            state=TransferState.PENDING,
            created_at=now,
            command_id=command_id,
        )

    @staticmethod
    def debit(transfer: Transfer) -> Operation:
        return Operation(
            op_id=f"{transfer.id}:debit",
            user_id=transfer.from_user_id,
            delta=-transfer.amount,
            kind=EntryKind.TRANSFER_OUT,
            reference=transfer.id,
        )

    @staticmethod
    def credit(transfer: Transfer) -> Operation:
        return Operation(
            op_id=f"{transfer.id}:credit",
            user_id=transfer.to_user_id,
            delta=transfer.amount,
            kind=EntryKind.TRANSFER_IN,
            reference=transfer.id,
        )

    @staticmethod
    def completed_event(transfer: Transfer) -> TransferCompleted:
        return TransferCompleted(
            transfer_id=transfer.id,
            from_user_id=transfer.from_user_id,
            to_user_id=transfer.to_user_id,
            from_username=transfer.from_username,
            to_username=transfer.to_username,
            amount=transfer.amount,
        )

    @staticmethod
    def history_item(transfer: Transfer, user_id: str) -> tuple[int, HistoryItem]:
        outgoing = transfer.from_user_id == user_id
        item = HistoryItem(
            transfer_id=transfer.id,
            direction="out" if outgoing else "in",
            counterparty=transfer.to_username if outgoing else transfer.from_username,
            amount=transfer.amount,
            created_at=transfer.created_at,
        )
        return sort_key(transfer.created_at), item
