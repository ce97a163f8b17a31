"""Failpoints: named step boundaries where a test can make a process crash, fail or stall.

Every failpoint is declared in ``DECLARED`` below with one line saying where it
sits; a call site is one line, ``failpoint("transactions.after_debit")``. They
are off unless ``HOOKLINE_FAILPOINTS`` arms some, for example::

    HOOKLINE_FAILPOINTS=transactions.after_debit=exit:0.2,hooks.after_effect=sleep(1.5):1

Each entry is ``NAME=ACTION[:PROBABILITY]``: on each pass through ``NAME`` the
action happens with that probability (default 1). Actions:

- ``exit``: log one line naming the failpoint (flushed), then ``os._exit``:
  no cleanup, no ``finally``, no acknowledgement, as abrupt as SIGKILL there;
- ``raise``: raise ``FailpointFired``;
- ``sleep(SECONDS)``: stall that long, then carry on.

A process checks the setting when it reads its settings (``core.settings``)
and arms it with ``install``; an unknown name or a malformed entry stops it
there with ``FailpointSpecError`` naming the entry. Off, a failpoint costs a
function call and one ``None`` check: nothing is parsed or looked up per call.
"""

from __future__ import annotations

import logging
import os
import random
import re
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from events import ConfigurationError

log = logging.getLogger(__name__)

# The exit status of a process stopped by an ``exit`` failpoint (billiard logs it).
EXIT_CODE = 86


@dataclass(frozen=True)
class Failpoint:
    """A declared step boundary: its name and where it sits."""

    name: str
    description: str


DECLARED: Mapping[str, Failpoint] = {
    point.name: point
    for point in (
        Failpoint("wallet.after_balance_update", "balance changed, ledger entry not yet written"),
        Failpoint("wallet.after_ledger_insert", "ledger entry written, in-flight mark not cleared"),
        Failpoint("transactions.after_debit", "transfer debited, not yet credited"),
        Failpoint("transactions.after_credit", "transfer credited, not yet marked completed"),
        Failpoint("hooks.after_effect", "a hook's handler returned, its completion not recorded"),
        Failpoint("hooks.after_mark", "a hook's completion recorded, its trace not yet written"),
        Failpoint("command.after_events", "a command's events published, its outcome not stored"),
        Failpoint("command.after_result", "a command's outcome stored, its task not acknowledged"),
        Failpoint("retry.before_send", "a failed try's retry decided and noted, not yet sent"),
        Failpoint("gateway.after_publish", "the gateway published a command, not yet answered"),
    )
}


class Action(StrEnum):
    EXIT = "exit"
    RAISE = "raise"
    SLEEP = "sleep"


class FailpointSpecError(ConfigurationError):
    """``HOOKLINE_FAILPOINTS`` names an unknown failpoint or has a malformed entry."""

    problem = "failpoint-spec"
    title = "Invalid failpoint setting"


class FailpointFired(RuntimeError):
    """Raised by a failpoint armed with ``raise``."""

    def __init__(self, name: str) -> None:
        super().__init__(f"failpoint {name} fired")
        self.name = name


@dataclass(frozen=True)
class Trigger:
    """What an armed failpoint does, and how likely it is to do it on each pass."""

    name: str
    action: Action
    probability: float = 1.0
    seconds: float = 0.0

    def fire(self) -> None:
        """Do the action (the caller has drawn the probability)."""
        if self.action is Action.SLEEP:
            time.sleep(self.seconds)
        elif self.action is Action.RAISE:
            raise FailpointFired(self.name)
        else:
            _exit_now(self.name)


_ENTRY = re.compile(
    r"(?P<name>[a-z0-9_.]+)=(?P<action>exit|raise|sleep\((?P<seconds>[0-9.]+)\))"
    r"(?::(?P<probability>[0-9.]+))?"
)


def parse(spec: str) -> dict[str, Trigger]:
    """The triggers a ``HOOKLINE_FAILPOINTS`` value arms; empty when it arms none."""
    triggers: dict[str, Trigger] = {}
    for raw in spec.split(","):
        entry = raw.strip()
        if not entry:
            continue
        trigger = _parse_entry(entry)
        if trigger.name in triggers:
            raise FailpointSpecError(f"failpoint {trigger.name!r} is armed twice")
        triggers[trigger.name] = trigger
    return triggers


def _parse_entry(entry: str) -> Trigger:
    found = _ENTRY.fullmatch(entry)
    if found is None:
        raise FailpointSpecError(
            f"failpoint entry {entry!r} is not NAME=exit|raise|sleep(SECONDS)[:PROBABILITY]"
        )
    name = found["name"]
    if name not in DECLARED:
        known = ", ".join(DECLARED)
        raise FailpointSpecError(f"unknown failpoint {name!r} in {entry!r} (known: {known})")
    probability = _number(found["probability"] or "1", entry, "probability")
    if not 0.0 <= probability <= 1.0:
        raise FailpointSpecError(f"failpoint entry {entry!r}: probability must be in 0..1")
    seconds = _number(found["seconds"] or "0", entry, "seconds")
    action = Action(found["action"].split("(", 1)[0])
    return Trigger(name, action, probability, seconds)


def _number(text: str, entry: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        message = f"failpoint entry {entry!r}: {what} {text!r} is not a number"
        raise FailpointSpecError(message) from None


# -- the armed set of this process -------------------------------------------------------

_armed: dict[str, Trigger] | None = None
_random = random.Random()
# A forked child (a prefork pool process) draws its own numbers, not its parent's.
os.register_at_fork(after_in_child=_random.seed)


def install(spec: str) -> dict[str, Trigger]:
    """Arm the failpoints ``spec`` names in this process (an empty spec disarms all)."""
    global _armed  # noqa: PLW0603 - the one process-wide switch every pass reads
    triggers = parse(spec)
    _armed = triggers or None
    if triggers:
        log.warning("failpoints armed: %s", spec)
    return triggers


def armed() -> dict[str, Trigger]:
    """The failpoints armed in this process, by name."""
    return dict(_armed or {})


def failpoint(name: str) -> None:
    """A step boundary named ``name``: does nothing unless ``install`` armed it."""
    if _armed is None:
        return
    trigger = _armed.get(name)
    if trigger is not None and _random.random() < trigger.probability:
        trigger.fire()


def _exit_now(name: str) -> None:
    """Say which failpoint fired, make sure the line is out, and stop the process at once."""
    log.critical("failpoint %s fired: exit", name)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_CODE)
