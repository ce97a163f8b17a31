"""Notifications orchestrator: inbox messages in MongoDB and the inbox list view."""

from __future__ import annotations

import contextlib

from pymongo.errors import DuplicateKeyError

from events import CommandResult, Event, EventSink
from events.paging import PageQuery
from modules.notifications import Message, NotificationsModule
from workers.context import CommandContext
from workers.documents import from_document, to_document
from workers.listing import page_of
from workers.orchestrator import Orchestrator

INBOX = "inbox"


class NotificationsOrchestrator(Orchestrator[NotificationsModule]):
    module_class = NotificationsModule

    def notify(self, event: Event, sink: EventSink) -> None:
        for message in self.module.messages_for(event):
            with contextlib.suppress(DuplicateKeyError):  # the same event, delivered again
                self.collection("messages").insert_one(to_document(message, "message_id"))
            self.read_models.append(
                self.module.name, INBOX, message.user_id, [self.module.inbox_item(message)]
            )

    def inbox(self, ctx: CommandContext, query: PageQuery) -> CommandResult:
        """Rebuilds the caller's inbox view from MongoDB and answers the page asked for."""
        user_id = ctx.actor.user_id or ""
        documents = self.collection("messages").find({"user_id": user_id}).sort("created_at", -1)
        items = [self.module.inbox_item(from_document(Message, d, "message_id")) for d in documents]
        self.read_models.replace(self.module.name, INBOX, user_id, items)
        return self.result(page_of(items, query))
