"""Run Hookline on one machine: the embedded servers, the process supervisor and the CLI.

The names below load on first use (PEP 562), so ``hookline.client`` imports without the
server's packages: an API client installs httpx and pydantic, not Celery or Redis.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hookline.processes import ProcessGroup, spawn, terminate
    from hookline.stack import (
        ServerHandle,
        Stack,
        StackConfig,
        StackError,
        ensure_jwt_secret,
        ensure_local_secrets,
        ensure_mongo,
        ensure_redis,
        ensure_seal_key,
        mongo_answers,
        redis_answers,
        start_stack,
    )

_HOMES = {
    "ProcessGroup": "hookline.processes",
    "spawn": "hookline.processes",
    "terminate": "hookline.processes",
    **dict.fromkeys(
        (
            "ServerHandle",
            "Stack",
            "StackConfig",
            "StackError",
            "ensure_jwt_secret",
            "ensure_local_secrets",
            "ensure_mongo",
            "ensure_redis",
            "ensure_seal_key",
            "mongo_answers",
            "redis_answers",
            "start_stack",
        ),
        "hookline.stack",
    ),
}

__all__ = [
    "ProcessGroup",
    "ServerHandle",
    "Stack",
    "StackConfig",
    "StackError",
    "ensure_jwt_secret",
    "ensure_local_secrets",
    "ensure_mongo",
    "ensure_redis",
    "ensure_seal_key",
    "mongo_answers",
    "redis_answers",
    "spawn",
    "start_stack",
    "terminate",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'hookline' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
