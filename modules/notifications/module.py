"""Notifications: a user's inbox of messages that hooks write when things happen to them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from events import Received
from events.paging import Page, PageQuery, sort_key
from modules.base import BaseModule
from modules.declarations import Hook, Index, Permission, ReadModelKind, Route, RouteMode
from modules.transactions.models import TransferCompleted
from modules.user_management.models import UserCreated
from modules.wallet.models import WalletChanged

PRIORITY = 50
# The Redis view this module publishes (``read_models``); its query route serves it.
INBOX_VIEW = "inbox"


class Message(BaseModel):
    """One inbox message; keyed by hook run and recipient, so a re-run adds nothing."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    user_id: str
    text: str
    event: str
    created_at: datetime


# What the hook takes: the payload of any event it is registered for.
Notified = UserCreated | WalletChanged | TransferCompleted


def _welcome(p: UserCreated) -> list[tuple[str, str]]:
    return [(p.user_id, f"Welcome to Hookline, {p.username}!")]


def _credited(p: WalletChanged) -> list[tuple[str, str]]:
    return [(p.user_id, f"{p.amount} credits added ({p.kind.value}); balance {p.balance}.")]


def _debited(p: WalletChanged) -> list[tuple[str, str]]:
    return [(p.user_id, f"{p.amount} credits taken ({p.kind.value}); balance {p.balance}.")]


def _transfer(p: TransferCompleted) -> list[tuple[str, str]]:
    return [
        (p.from_user_id, f"You sent {p.amount} credits to {p.to_username}."),
        (p.to_user_id, f"You received {p.amount} credits from {p.from_username}."),
    ]


# Event name → its payload model and the messages it makes (the hook's events).
_TEXTS: dict[str, tuple[type[BaseModel], Callable[[Any], list[tuple[str, str]]]]] = {
    "user_created": (UserCreated, _welcome),
    "wallet_credited": (WalletChanged, _credited),
    "wallet_debited": (WalletChanged, _debited),
    "transfer_completed": (TransferCompleted, _transfer),
}


def _texts(name: str, payload: Notified) -> list[tuple[str, str]]:
    model, texts = _TEXTS[name]
    if not isinstance(payload, model):
        raise TypeError(f"event {name!r} carries {type(payload).__name__}, not {model.__name__}")
    return texts(payload)


class NotificationsModule(BaseModule):
    name = "notifications"
    read_models = (INBOX_VIEW,)
    description = "Each user's inbox of messages produced by hooks."
    dependencies = ("user_management", "wallet", "transactions")
    permissions = (Permission("notifications:read", description="Read your inbox"),)
    routes = (
        Route(
            "GET",
            "/notifications",
            "inbox",
            request=PageQuery,
            permission="notifications:read",
            mode=RouteMode.QUERY,
            read_model=INBOX_VIEW,
            read_model_kind=ReadModelKind.LIST,
            summary="The caller's messages, newest first",
            response=Page,
        ),
    )
    hooks = tuple(
        Hook(event, "notify", priority=PRIORITY, context=f"inbox message on {event}")
        for event in _TEXTS
    )
    indexes = (Index("messages", (("user_id", 1), ("created_at", -1))),)

    @staticmethod
    def messages_for(event: Received[Notified], run_id: str) -> list[Message]:
        """The messages hook run ``run_id`` writes for ``event``, one per recipient.

        Each is keyed by the run id and its recipient; its time is the event's to the
        millisecond, as MongoDB keeps it, so a stored message reads back the same.
        """
        created_at = event.occurred_at.replace(
            microsecond=event.occurred_at.microsecond // 1000 * 1000
        )
        return [
            Message(
                message_id=f"{run_id}/{user_id}",
                user_id=user_id,
                text=text,
                event=event.name,
                created_at=created_at,
            )
            for user_id, text in _texts(event.name, event.payload)
        ]

    @staticmethod
    def inbox_item(message: Message) -> tuple[int, Message]:
        return sort_key(message.created_at), message
