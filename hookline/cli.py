"""The ``hookline`` command line.

``up`` runs the whole stack; ``worker``, ``gateway`` and ``flower`` run one process
each with the current environment. A subcommand is a ``Command`` in the registry:
add one with ``register(Command(...))`` before ``main`` builds the parser.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import NoReturn

import httpx

from core.logs import LogFormat, LogSettings, configure_logging
from core.sealing import new_key_entry
from core.security import ADMIN_ROLE
from core.settings import Settings
from hookline.processes import ProcessGroup
from hookline.role_commands import GRANTABLE_ROLES, AdminAction, UnknownUser, change_admin_role
from hookline.stack import (
    FLOWER_AUTH_ENV,
    FLOWER_SECRET_NAME,
    SOFT_SHUTDOWN_ENV,
    ServerHandle,
    Stack,
    StackConfig,
    StackError,
    flower_command,
    flower_logins,
    gateway_command,
    secrets_chain,
    secrets_dir,
    start_stack,
    worker_command,
    worker_env,
)
from workers.metrics import WorkerMetricsSettings

log = logging.getLogger(__name__)

DEFAULT_HEALTH_TIMEOUT_S = 60.0
_POLL_INTERVAL_S = 0.2
_HEALTH_REQUEST_TIMEOUT_S = 2.0
_REGISTER_EXAMPLE = (
    "curl -s -X POST localhost:{port}/public/register -H 'Content-Type: application/json' "
    "-H 'Prefer: wait=10' "
    '-d \'{{"email":"ada@example.com","username":"ada","password":"correct horse battery"}}\''
)

_DESCRIPTION = "Run Hookline on this machine."

Runner = Callable[[argparse.Namespace], int]


def _no_options(_parser: argparse.ArgumentParser) -> None:
    """A subcommand that takes no options."""


@dataclass(frozen=True)
class Command:
    """A ``hookline`` subcommand: its name, one-line help, options and what it runs."""

    name: str
    help: str
    run: Runner
    configure: Callable[[argparse.ArgumentParser], None] = field(default=_no_options)


_COMMANDS: dict[str, Command] = {}


def register(command: Command) -> Command:
    """Add a subcommand; a name registered twice is a programming error."""
    if command.name in _COMMANDS:
        raise ValueError(f"hookline command {command.name!r} is registered twice")
    _COMMANDS[command.name] = command
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hookline", description=_DESCRIPTION)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS.values():
        subparser = subparsers.add_parser(command.name, help=command.help, description=command.help)
        command.configure(subparser)
        subparser.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # The CLI talks to a person: readable text unless HOOKLINE_LOG_FORMAT says otherwise.
    log_format = os.environ.get("HOOKLINE_LOG_FORMAT", LogFormat.TEXT)
    configure_logging(LogSettings(log_format=LogFormat(log_format)))
    runner: Runner = args.run
    try:
        return runner(args)
    except StackError as error:
        log.error("%s", error)
        return 1


class _StopSignal:
    """Remembers SIGINT/SIGTERM instead of raising, so shutdown happens in one place."""

    def __init__(self) -> None:
        self.received: int | None = None

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self.received = signum


def _configure_up(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--health-timeout",
        type=float,
        default=DEFAULT_HEALTH_TIMEOUT_S,
        metavar="SECONDS",
        help="how long to wait for the gateway's /health to answer 200 (default: %(default)s)",
    )


def _run_up(args: argparse.Namespace) -> int:
    stop = _StopSignal()
    # A signal during a server's (bounded) start is acted on once that start returns.
    stop.install()
    config = StackConfig.from_env(os.environ)
    with ProcessGroup() as group:
        stack = start_stack(config, group, os.environ)
        _await_health(config.health_url, group, stop, args.health_timeout)
        if stop.received is not None:
            return 0
        print(_banner(stack), flush=True)
        return _supervise(group, stop)


def _await_health(url: str, group: ProcessGroup, stop: _StopSignal, timeout_s: float) -> None:
    """Return once ``url`` answers 200 (or a stop signal came); raise if a child dies first."""
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    with httpx.Client(timeout=_HEALTH_REQUEST_TIMEOUT_S) as client:
        while stop.received is None:
            _raise_if_exited(group)
            try:
                response = client.get(url)
            except httpx.HTTPError as error:
                last = f"{type(error).__name__}: {error}"
            else:
                if response.status_code == 200:
                    return
                last = f"{response.status_code}: {response.text[:500]}"
            if time.monotonic() > deadline:
                raise StackError(f"{url} did not answer 200 within {timeout_s:.0f} s ({last})")
            time.sleep(_POLL_INTERVAL_S)


def _raise_if_exited(group: ProcessGroup) -> None:
    exited = group.exited()
    if exited:
        name, code = exited[0]
        raise StackError(f"{name} exited with code {code} before the gateway was healthy")


def _supervise(group: ProcessGroup, stop: _StopSignal) -> int:
    """Wait for a stop signal (exit 0) or for a child to die (exit 1)."""
    while stop.received is None:
        exited = group.exited()
        if exited:
            name, code = exited[0]
            log.error("%s exited with code %d; stopping the stack", name, code)
            return 1
        time.sleep(_POLL_INTERVAL_S)
    log.info("received %s; stopping the stack", signal.Signals(stop.received).name)
    return 0


def _banner(stack: Stack) -> str:
    config = stack.config
    lines = [
        "",
        "Hookline is up.",
        f"  Redis    {config.redis_url}  ({_origin(stack.redis)})",
        f"  MongoDB  {config.mongo_url}  ({_origin(stack.mongo)})",
    ]
    if config.broker_url != config.redis_url:
        lines.append(f"  Broker   {config.broker_url}")
    lines += [
        f"  Gateway  http://127.0.0.1:{config.gateway_port}  (GET /health)",
        f"  Flower   http://{config.flower_address}:{config.flower_port}  {_flower_login(stack)}",
        *_metrics_lines(config),
        "",
        "Register a user:",
        "  " + _REGISTER_EXAMPLE.format(port=config.gateway_port),
        "",
        "Press Ctrl-C to stop.",
    ]
    return "\n".join(lines)


def _flower_login(stack: Stack) -> str:
    if stack.local_flower_login is None:
        return f"(log in with your {FLOWER_SECRET_NAME})"
    user, _, password = stack.local_flower_login.partition(":")
    where = secrets_dir(stack.config.data_dir) / FLOWER_SECRET_NAME
    return f"(user {user}, password {password}: this local dev stack's login, kept in {where})"


def _metrics_lines(config: StackConfig) -> list[str]:
    """How to scrape the gateway and the worker."""
    settings, worker = Settings(), WorkerMetricsSettings()
    lines = [
        f"  Metrics  http://127.0.0.1:{config.gateway_port}/metrics with an admin's bearer "
        "token or an API key scoped metrics:read (X-API-Key)",
    ]
    if settings.metrics_port is not None:
        lines.append(
            f"           http://{settings.metrics_host}:{settings.metrics_port}/metrics "
            "without authentication (HOOKLINE_METRICS_PORT)"
        )
    if worker.worker_metrics_port:
        lines.append(
            f"           http://{worker.worker_metrics_address}:{worker.worker_metrics_port}"
            "/metrics (the worker, without authentication)"
        )
    return lines


def _origin(server: ServerHandle) -> str:
    if server.started:
        return f"started here, data in {server.data_dir}"
    return "already running"


def _exec(argv: list[str]) -> NoReturn:
    """Replace this process with ``argv``, so signals reach it directly."""
    log.info("running %s", " ".join(argv))
    logging.shutdown()
    sys.stdout.flush()
    os.execv(argv[0], argv)


def _run_worker(_args: argparse.Namespace) -> int:
    os.environ.update(worker_env(os.environ, StackConfig.from_env(os.environ).data_dir))
    for name, value in SOFT_SHUTDOWN_ENV.items():
        os.environ.setdefault(name, value)
    _exec(worker_command())


def _run_gateway(_args: argparse.Namespace) -> int:
    _exec(gateway_command(StackConfig.from_env(os.environ).gateway_port))


def _run_flower(_args: argparse.Namespace) -> int:
    """Flower with its logins from the secrets chain, handed over in its environment."""
    config = StackConfig.from_env(os.environ)
    os.environ[FLOWER_AUTH_ENV] = flower_logins(secrets_chain(config, os.environ))
    _exec(flower_command(config.flower_port, config.flower_address))


def _configure_seal_key(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--id", dest="key_id", help="the key id (default: 8 random hex digits)")


def _run_seal_key(args: argparse.Namespace) -> int:
    """A new key on standard output, for a secrets file or the environment (see README)."""
    sys.stdout.write(new_key_entry(args.key_id) + "\n")
    return 0


def _configure_admin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=[a.value for a in AdminAction])
    parser.add_argument("email", help="the user's email")
    parser.add_argument(
        "--role",
        choices=GRANTABLE_ROLES,
        default=ADMIN_ROLE,
        help="the role to grant or revoke (default: admin)",
    )


def _run_admin(args: argparse.Namespace) -> int:
    action = AdminAction(args.action)
    try:
        user_id = change_admin_role(Settings(), args.email, action, args.role)
    except UnknownUser as error:
        log.error("%s", error)
        return 1
    done = "now has" if action is AdminAction.GRANT else "no longer has"
    log.info("user %s (%s) %s the %s role", user_id, args.email, done, args.role)
    return 0


register(
    Command(
        "up",
        "run Redis and MongoDB (reused if they answer), a worker, the gateway and Flower",
        _run_up,
        _configure_up,
    )
)
register(Command("worker", "run one Celery worker with the current environment", _run_worker))
register(Command("gateway", "run the HTTP gateway with the current environment", _run_gateway))
register(Command("flower", "run Flower (behind a login) with the current environment", _run_flower))
register(
    Command(
        "seal-key",
        "print a new bus seal key entry (KEY_ID:KEY) for HOOKLINE_BUS_SEAL_KEY",
        _run_seal_key,
        _configure_seal_key,
    )
)
register(
    Command(
        "admin",
        "grant or revoke the admin or operator role of a registered user (MONGO_URL, REDIS_URL)",
        _run_admin,
        _configure_admin,
    )
)


# Subcommands kept in their own modules register themselves on import.
import hookline.dead_letter_commands  # noqa: E402
import hookline.failpoint_commands  # noqa: E402
import hookline.gateway_commands  # noqa: E402
import hookline.operator_commands  # noqa: E402, F401
