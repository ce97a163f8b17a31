"""The notifications inbox."""

from modules.notifications.module import Message, NotificationsModule

__all__ = ["Message", "NotificationsModule"]
