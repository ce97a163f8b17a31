"""``hookline failpoints``: every declared failpoint, and what ``HOOKLINE_FAILPOINTS`` arms.

It reads the environment as a worker would, so it also checks a setting before
it is given to one: an unknown name or a malformed entry is reported, naming
it, with exit status 1.
"""

from __future__ import annotations

import argparse
import os
import sys

from core.failpoints import DECLARED, Action, FailpointSpecError, Trigger, parse
from hookline.cli import Command, register

SETTING = "HOOKLINE_FAILPOINTS"


def describe(trigger: Trigger) -> str:
    """An armed trigger as the setting writes it: ``exit:0.2``, ``sleep(1.5):1``."""
    action = str(trigger.action)
    if trigger.action is Action.SLEEP:
        action = f"sleep({trigger.seconds:g})"
    return f"{action}:{trigger.probability:g}"


def listing(spec: str) -> list[str]:
    """One line per declared failpoint: name, where it sits, and its trigger if armed."""
    armed = parse(spec)
    width = max(len(name) for name in DECLARED)
    lines = []
    for name, point in DECLARED.items():
        trigger = armed.get(name)
        shown = f"  [armed: {describe(trigger)}]" if trigger else ""
        lines.append(f"{name:<{width}}  {point.description}{shown}")
    return lines


def _run(_args: argparse.Namespace) -> int:
    try:
        lines = listing(os.environ.get(SETTING, ""))
    except FailpointSpecError as e:
        print(f"hookline failpoints: {SETTING}: {e.detail}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


register(
    Command(
        "failpoints",
        f"list the failpoints tests can arm with {SETTING}, and which it arms",
        _run,
    )
)
