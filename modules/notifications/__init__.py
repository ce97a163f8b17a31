"""The notifications inbox."""

from modules.notifications.module import INBOX_VIEW, Message, NotificationsModule

__all__ = ["INBOX_VIEW", "Message", "NotificationsModule"]
