"""Outbound webhooks on the Standard Webhooks spec: signing, the SSRF guard, the HTTP poster.

Self-contained: no Redis, no Mongo, no Celery. The delivery task signs a body
(``signing``), and posts it (``poster``) to a URL the guard (``addresses``)
checks again at every attempt.
"""
