"""``hookline`` subcommands for operators and module authors.

``modules`` prints what the declarations say; ``new-module`` scaffolds a module. The
commands that talk to a running gateway are in ``gateway_commands``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hookline.cli import Command, Runner, register
from hookline.client import ClientError
from hookline.progress import print_json
from hookline.scaffold import ScaffoldError, scaffold
from modules import discover
from modules.introspection import Declared, declared

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


def reporting(run: Runner) -> Runner:
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
        reporting(_run_modules),
        _configure_modules,
    )
)
register(
    Command(
        "new-module",
        "scaffold a module, its orchestrator and a passing test",
        reporting(_run_new_module),
        _configure_new_module,
    )
)
