"""Outbound webhooks: events delivered to users' own HTTP endpoints, signed (Standard Webhooks)."""

from modules.webhooks.module import WebhooksModule

__all__ = ["WebhooksModule"]
