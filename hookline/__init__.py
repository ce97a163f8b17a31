"""Run Hookline on one machine: the embedded servers, the process supervisor and the CLI."""

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
