"""Every Redis key and channel Hookline uses, in one place."""

from __future__ import annotations

PREFIX = "hookline"

COMMAND_CHANGES_PATTERN = f"{PREFIX}:cmd:*:changes"


def command(command_id: str) -> str:
    """Hash: the command document."""
    return f"{PREFIX}:cmd:{command_id}"


def command_hooks(command_id: str) -> str:
    """List: the hook runs caused by the command, in execution order."""
    return f"{PREFIX}:cmd:{command_id}:hooks"


def command_pending(command_id: str) -> str:
    """Set: ids of events the command caused whose hooks have not all run yet."""
    return f"{PREFIX}:cmd:{command_id}:pending"


def command_changes(command_id: str) -> str:
    """Pub/sub channel: a message on every status change and when the hooks settle."""
    return f"{PREFIX}:cmd:{command_id}:changes"


def command_id_from_channel(channel: str) -> str:
    return channel.split(":")[2]


def read_model(module: str, view: str, key: str) -> str:
    return f"{PREFIX}:rm:{module}:{view}:{key}"


def worker_heartbeat(worker: str) -> str:
    return f"{PREFIX}:worker:{worker}"


WORKER_HEARTBEAT_PATTERN = f"{PREFIX}:worker:*"


def message(task_id: str) -> str:
    """String: a published message not yet started (JSON), or ``started`` as a tombstone."""
    return f"{PREFIX}:msg:{task_id}"


def messages_due(queue: str) -> str:
    """Sorted set: ids of the queue's messages not yet started, scored by when they are due."""
    return f"{PREFIX}:msgs:{queue}:due"


def messages_started(queue: str) -> str:
    """String: the latest due time among the queue's messages that have started."""
    return f"{PREFIX}:msgs:{queue}:started"


REDELIVERY_LOCK = f"{PREFIX}:msgs:sweep-lock"
