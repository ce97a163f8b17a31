"""Notifications: a user's inbox of messages that hooks write when things happen to them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from events import Event
from events.paging import Page, PageQuery, sort_key
from modules.base import BaseModule
from modules.declarations import Hook, Index, Permission, ReadModelKind, Route, RouteMode

PRIORITY = 50


class Message(BaseModel):
    """One inbox message; keyed by hook run and recipient, so a re-run adds nothing."""

    model_config = ConfigDict(frozen=True)

    message_id: str
    user_id: str
    text: str
    event: str
    created_at: datetime


def _welcome(p: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["user_id"], f"Welcome to Hookline, {p['username']}!")]


def _credited(p: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["user_id"], f"{p['amount']} credits added ({p['kind']}); balance {p['balance']}.")]


def _debited(p: dict[str, Any]) -> list[tuple[str, str]]:
    return [(p["user_id"], f"{p['amount']} credits taken ({p['kind']}); balance {p['balance']}.")]


def _transfer(p: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (p["from_user_id"], f"You sent {p['amount']} credits to {p['to_username']}."),
        (p["to_user_id"], f"You received {p['amount']} credits from {p['from_username']}."),
    ]


_TEXTS = {
    "user_created": _welcome,
    "wallet_credited": _credited,
    "wallet_debited": _debited,
    "transfer_completed": _transfer,
}


class NotificationsModule(BaseModule):
    name = "notifications"
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
            read_model="inbox",
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
    def messages_for(event: Event, run_id: str) -> list[Message]:
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
            for user_id, text in _TEXTS[event.name](event.payload)
        ]

    @staticmethod
    def inbox_item(message: Message) -> tuple[int, Message]:
        return sort_key(message.created_at), message
