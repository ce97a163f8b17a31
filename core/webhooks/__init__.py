"""Outbound webhooks on the Standard Webhooks spec: signing, the SSRF guard, the HTTP poster.

Self-contained: no Redis, no Mongo, no Celery. The delivery task signs a body
(``signing``), and posts it (``poster``) to a URL the guard (``addresses``)
checks again at every attempt.
"""

from core.webhooks import signing
from core.webhooks.addresses import AddressGuard, HostNotFound, Target, UnsafeAddress
from core.webhooks.poster import Attempt, WebhookPoster

__all__ = [
    "AddressGuard",
    "Attempt",
    "HostNotFound",
    "Target",
    "UnsafeAddress",
    "WebhookPoster",
    "signing",
]
