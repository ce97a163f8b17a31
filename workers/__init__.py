"""Celery workers: bootstrap, orchestrators, task registration.

Run with ``celery -A workers.app worker``.
"""
