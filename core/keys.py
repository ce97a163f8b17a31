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


def command_hooks_once(command_id: str) -> str:
    """Set: the hook runs whose completion the trace holds, so it holds each one once."""
    return f"{PREFIX}:cmd:{command_id}:hooks:once"


def command_pending(command_id: str) -> str:
    """Set: ids of events the command caused whose hooks have not all run yet."""
    return f"{PREFIX}:cmd:{command_id}:pending"


def command_secret(command_id: str) -> str:
    """String: the sealed sensitive fields of the command's result, until handed over once
    (or ``secret_result_ttl_s`` passes)."""
    return f"{PREFIX}:cmd:{command_id}:secret"


def command_changes(command_id: str) -> str:
    """Pub/sub channel: a message on every status change, at each hook run traced (`hook`)
    and when the hooks settle (`settled`)."""
    return f"{PREFIX}:cmd:{command_id}:changes"


SCHEDULE = f"{PREFIX}:schedule"
"""Sorted set: ids of scheduled commands, scored by their Command-Not-Before (epoch s)."""

SCHEDULE_LEASE = f"{PREFIX}:schedule:lease"
"""String with a TTL: the worker process that releases due scheduled commands now."""


def owner_commands(principal: str) -> str:
    """Sorted set: a caller's command ids (all scored 0, so ordered by id: by time), newest
    ``command_index_max`` kept, for ``GET /commands``."""
    return f"{PREFIX}:owner:{principal}:cmds"


def command_id_from_channel(channel: str) -> str:
    return channel.split(":")[2]


def serial_line(serial_key: str) -> str:
    """List: the command hashes (``command(id)`` keys) of one serial key, in acceptance order;
    the head's turn it is (``core.serial``). Its TTL, ``command_ttl_s``, is refreshed on each
    join; finished heads are popped whenever the line is looked at."""
    return f"{PREFIX}:serial:{serial_key}"


# Sorted set: the lines with a parked command, scored by when each was last looked at, so
# the sweep finds lines to heal without a SCAN (``core.serial``).
SERIAL_WAITING = f"{PREFIX}:serial-waiting"


def webhook_slots(endpoint_id: str) -> str:
    """The outbound-webhook tries in flight to one endpoint (``core.webhook_gate``)."""
    return f"{PREFIX}:webhooks:{endpoint_id}:slots"


def read_model(module: str, view: str, key: str) -> str:
    """String (a document view, JSON) or sorted set (a list view): a module's view for one
    key (a caller, or ``_shared``)."""
    return f"{PREFIX}:rm:{module}:{view}:{key}"


def read_model_ready(module: str, view: str, key: str) -> str:
    """String: the list view was built in full, so items may be appended to it."""
    return f"{read_model(module, view, key)}:ready"


def read_model_version(module: str, view: str, key: str) -> str:
    """String: the version of the document view stored, so an older one never replaces it."""
    return f"{read_model(module, view, key)}:version"


def worker_heartbeat(worker: str) -> str:
    """String with a TTL: one worker process's snapshot (``host:pid``) while it lives."""
    return f"{PREFIX}:worker:{worker}"


WORKER_HEARTBEAT_PATTERN = f"{PREFIX}:worker:*"


# -- security ---------------------------------------------------------------------------------

RATE_LIMIT_PREFIX = f"{PREFIX}:rl"


def session(family: str) -> str:
    """Hash: a login session (token family): its user and the current refresh token id."""
    return f"{PREFIX}:auth:session:{family}"


def console_session(digest: str) -> str:
    """String: an operator console sign-in, named by the SHA-256 of its cookie's id."""
    return f"{PREFIX}:console:session:{digest}"


def user_sessions(user_id: str) -> str:
    """Set: the ids of a user's open sessions, so logout can end them all."""
    return f"{PREFIX}:auth:user:{user_id}:sessions"


def attempts(subject: str) -> str:
    """Sorted set: a subject's recent attempts (e.g. failed logins of one account, by a keyed
    digest of its email), scored by when they happened."""
    return f"{PREFIX}:attempts:{subject}"


def api_key(key_id: str) -> str:
    """String: an active API key's record (hash of the key, scopes), for the gateway."""
    return f"{PREFIX}:apikey:{key_id}"


def user_roles(user_id: str) -> str:
    """String: a user's current roles, for the gateway to bound the keys the user created."""
    return f"{PREFIX}:auth:user:{user_id}:roles"


def ban(identity: str) -> str:
    """String with a TTL: the caller (``ip:…``, ``user:…``, ``key:…``) is banned while it lives."""
    return f"{PREFIX}:ban:{identity}"


def in_flight(identity: str) -> str:
    """Sorted set: a caller's commands not yet finished, scored by when they stop counting."""
    return f"{PREFIX}:inflight:{identity}"


COMMAND_PREFIX = f"{PREFIX}:cmd:"


def idempotency(digest: str) -> str:
    """Hash: the command an Idempotency-Key stands for, the request's fingerprint and when it
    was claimed; ``digest`` hashes caller, command name and key."""
    return f"{PREFIX}:idem:{digest}"


def message(task_id: str) -> str:
    """String: a message noted before it was published and not yet started (JSON)."""
    return f"{PREFIX}:msg:{task_id}"


def messages_due(queue: str) -> str:
    """Sorted set: ids of the queue's messages not yet started, scored by when they are due."""
    return f"{PREFIX}:msgs:{queue}:due"


def messages_started(queue: str) -> str:
    """String: the latest due time among the queue's messages that have started."""
    return f"{PREFIX}:msgs:{queue}:started"


REDELIVERY_LOCK = f"{PREFIX}:msgs:sweep-lock"
