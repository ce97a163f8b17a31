"""Benchmarks: Hookline against raw Celery, bare Starlette and pluggy (``make bench``)."""
