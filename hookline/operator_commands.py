"""``hookline`` subcommands for operators and module authors.

``modules`` prints what the declarations say; ``submit`` and ``status`` talk to
a running gateway over HTTP (``--url``, ``--token`` or ``HOOKLINE_TOKEN``);
``new-module`` scaffolds a module.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from hookline.cli import Command, Runner, register
from hookline.client import (
    CLAIM_ENV,
    DEFAULT_URL,
    TOKEN_ENV,
    ClientError,
    Gateway,
    ProgressLine,
    follow_to_end,
    print_json,
)
from hookline.scaffold import ScaffoldError, scaffold
from modules import discover
from modules.introspection import Declared, declared

FAILED_STATUSES = frozenset({"failed", "dead"})


def _configure_gateway(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get("HOOKLINE_URL", DEFAULT_URL),
        help="the gateway (default: $HOOKLINE_URL or %(default)s)",
    )
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"a bearer access token (default: ${TOKEN_ENV})",
    )


# -- modules --------------------------------------------------------------------------------


def _configure_modules(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the table as JSON")


def modules_table(found: Declared) -> dict[str, Any]:
    """Load order, each module's routes and events, and each event's hooks in dispatch order."""
    return {
        "load_order": list(found.order),
        "modules": {
            name: {
                "dependencies": list(cls.dependencies),
                "commands": [
                    f"{r.method} {r.path} -> {cls.command_name(r.handler)}" for r in cls.routes
                ],
                "events": [spec.name for spec in cls.events],
            }
            for name, cls in found.classes.items()
        },
        "hooks": {
            event: [
                {
                    "hook": h.key,
                    "priority": h.priority,
                    "context": h.context,
                    "event": h.event,
                    "critical": h.critical,
                }
                for h in found.hooks_for(event)
            ]
            for event in found.catalogue
        },
    }


def _print_modules(table: dict[str, Any]) -> None:
    print("Load order: " + " → ".join(table["load_order"]))
    for name, module in table["modules"].items():
        needs = ", ".join(module["dependencies"]) or "nothing"
        print(f"\n{name}  (needs {needs})")
        for command in module["commands"]:
            print(f"  {command}")
        if module["events"]:
            print(f"  emits: {', '.join(module['events'])}")
    print("\nHooks, in dispatch order:")
    for event, hooks in table["hooks"].items():
        print(f"  {event}")
        for position, hook in enumerate(hooks, start=1):
            every = "  (every event)" if hook["event"] == "*" else ""
            critical = "  (critical)" if hook["critical"] else ""
            line = f"{position}. {hook['hook']:<28} priority {hook['priority']:<4}"
            print(f"    {line} {hook['context']}{every}{critical}")


def _run_modules(args: argparse.Namespace) -> int:
    table = modules_table(declared(discover()))
    if args.json:
        print_json(table)
    else:
        _print_modules(table)
    return 0


# -- submit and status ----------------------------------------------------------------------


def _configure_submit(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the command, e.g. wallet.deposit")
    parser.add_argument("--data", default="{}", help="the payload as JSON (default: {})")
    parser.add_argument(
        "--wait", action="store_true", help="follow the command to its end and print it"
    )
    _configure_gateway(parser)


def _payload(raw: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ClientError(f"--data is not JSON: {e}") from e
    if not isinstance(data, dict):
        raise ClientError("--data must be a JSON object")
    return data


def _run_submit(args: argparse.Namespace) -> int:
    gateway = Gateway(args.url, args.token)
    try:
        response = gateway.submit(args.name, _payload(args.data))
        body: Any = response.json() if response.content else None
        claim = gateway.keep_claim(response)
        if response.status_code != 202 or not args.wait:
            if claim and response.status_code == 202:
                sys.stderr.write(
                    f"read it with: hookline status {body['command_id']} --claim={claim}\n"
                )
            print_json(body)
            return 0 if response.status_code < 400 else 1
        document = follow_to_end(gateway, body["command_id"], ProgressLine())
    finally:
        gateway.close()
    print_json(document)
    return 1 if document["status"] in FAILED_STATUSES else 0


def _configure_status(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("command_id", metavar="ID", help="the command id")
    parser.add_argument(
        "--follow", action="store_true", help="show live progress until the command is done"
    )
    parser.add_argument(
        "--claim",
        default=os.environ.get(CLAIM_ENV),
        help=f"an anonymous command's Command-Claim (default: ${CLAIM_ENV})",
    )
    _configure_gateway(parser)


def _run_status(args: argparse.Namespace) -> int:
    gateway = Gateway(args.url, args.token, args.claim)
    try:
        if args.follow:
            document = follow_to_end(gateway, args.command_id, ProgressLine())
        else:
            response = gateway.status(args.command_id)
            document = response.json()
            if response.status_code != 200:
                print_json(document)
                return 1
    finally:
        gateway.close()
    print_json(document)
    return 1 if document["status"] in FAILED_STATUSES else 0


# -- new-module -----------------------------------------------------------------------------


def _configure_new_module(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the module's name, lower_snake_case")
    parser.add_argument(
        "--root", type=Path, default=Path.cwd(), help="the project root (default: here)"
    )


def _run_new_module(args: argparse.Namespace) -> int:
    written = scaffold(args.root, args.name)
    for path in written:
        print(f"created {path}")
    print(f"\nRun its test: pytest tests/modules/test_{args.name}.py")
    return 0


def _reporting(run: Runner) -> Runner:
    """Turn the expected failures of these commands into a message and exit code 1."""

    def runner(args: argparse.Namespace) -> int:
        try:
            code: int = run(args)
        except (ClientError, ScaffoldError) as error:
            print(f"hookline: {error}", file=sys.stderr)
            return 1
        return code

    return runner


register(
    Command(
        "modules",
        "print the load order, the routes and the hooks table",
        _reporting(_run_modules),
        _configure_modules,
    )
)
register(
    Command("submit", "submit a command to the gateway", _reporting(_run_submit), _configure_submit)
)
register(
    Command(
        "status",
        "show a command; --follow streams its progress",
        _reporting(_run_status),
        _configure_status,
    )
)
register(
    Command(
        "new-module",
        "scaffold a module, its orchestrator and a passing test",
        _reporting(_run_new_module),
        _configure_new_module,
    )
)
