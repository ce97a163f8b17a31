"""Notifications orchestrator: inbox messages in MongoDB and the inbox list view."""

from __future__ import annotations

from core.read_models import caller_key
from events import CommandResult, HookSink, Received
from events.paging import PageQuery
from modules.notifications import INBOX_VIEW, Message, NotificationsModule
from modules.notifications.module import Notified
from workers.context import CommandContext
from workers.documents import from_document, insert_once
from workers.listing import page_of
from workers.orchestrator import Orchestrator


class NotificationsOrchestrator(Orchestrator[NotificationsModule]):
    module_class = NotificationsModule

    def notify(self, event: Received[Notified], sink: HookSink) -> None:
        """Store each message once under the run id, then list the stored one in the inbox.

        A re-run (the worker died before the completion was recorded, or the same event
        came twice at once) finds its messages stored and lists the very same items: a
        list view holds an item once, so the inbox gains nothing.
        """
        for message in self.module.messages_for(event, sink.run_id):
            stored = self._insert_once(message)
            self.read_models.append(
                self.module.name, INBOX_VIEW, stored.user_id, [self.module.inbox_item(stored)]
            )

    def _insert_once(self, message: Message) -> Message:
        """Insert ``message``; if this run stored it before, the message as stored then
        (a re-delivered event may carry another time)."""
        return insert_once(self.collection("messages"), message, "message_id")

    def inbox(self, ctx: CommandContext, query: PageQuery) -> CommandResult:
        """Rebuilds the caller's inbox view from MongoDB and answers the page asked for."""
        user_id = ctx.actor.user_id or ""
        documents = self.collection("messages").find({"user_id": user_id}).sort("created_at", -1)
        items = [self.module.inbox_item(from_document(Message, d, "message_id")) for d in documents]
        self.read_models.replace(self.module.name, INBOX_VIEW, caller_key(ctx.actor), items)
        return self.result(page_of(items, query))
