"""The command status lifecycle and the transitions it allows."""

from __future__ import annotations

from enum import StrEnum

from events.errors import InvalidTransition


class CommandStatus(StrEnum):
    PUBLISHING = "publishing"
    SCHEDULED = "scheduled"
    ACCEPTED = "accepted"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    REFUSED = "refused"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {
        CommandStatus.SUCCEEDED,
        CommandStatus.FAILED,
        CommandStatus.DEAD,
        CommandStatus.REFUSED,
        CommandStatus.CANCELLED,
        CommandStatus.EXPIRED,
    }
)

# publishing → accepted once the gateway knows the broker holds the command; publishing →
# refused when it answered 503 instead, or when a worker finds it still unconfirmed long
# after (the fence: a command answered 503 never runs, even if the broker kept it).
# accepted → running → succeeded | failed, retrying between runs, dead after the last retry.
# ``running → running`` is a redelivery after a worker died mid-run.
# ``dead → accepted`` is an operator's replay of a dead letter, and nothing else: only
# ``CommandStateStore.reopen`` asks for it. Succeeded and failed are final.
# A command with a ``Command-Not-Before`` is ``scheduled`` until a worker releases it to the
# broker (``scheduled → accepted``). Until it starts, a command may be ``cancelled``, and
# one whose ``Command-Deadline`` has passed is ``expired``; neither ever runs. A running
# command is cancelled only when its route is cancellable and its handler stops at a
# checkpoint; one retrying between runs may be cancelled (it runs no more).
ALLOWED: dict[CommandStatus, frozenset[CommandStatus]] = {
    CommandStatus.PUBLISHING: frozenset({CommandStatus.ACCEPTED, CommandStatus.REFUSED}),
    CommandStatus.SCHEDULED: frozenset(
        {CommandStatus.ACCEPTED, CommandStatus.CANCELLED, CommandStatus.EXPIRED}
    ),
    CommandStatus.ACCEPTED: frozenset(
        {CommandStatus.RUNNING, CommandStatus.CANCELLED, CommandStatus.EXPIRED}
    ),
    CommandStatus.RUNNING: frozenset(
        {
            CommandStatus.RUNNING,
            CommandStatus.RETRYING,
            CommandStatus.SUCCEEDED,
            CommandStatus.FAILED,
            CommandStatus.DEAD,
            CommandStatus.CANCELLED,
        }
    ),
    CommandStatus.RETRYING: frozenset(
        {CommandStatus.RUNNING, CommandStatus.DEAD, CommandStatus.CANCELLED}
    ),
    CommandStatus.SUCCEEDED: frozenset(),
    CommandStatus.FAILED: frozenset(),
    CommandStatus.DEAD: frozenset({CommandStatus.ACCEPTED}),
    CommandStatus.REFUSED: frozenset(),
    CommandStatus.CANCELLED: frozenset(),
    CommandStatus.EXPIRED: frozenset(),
}


def predecessors(target: CommandStatus) -> frozenset[CommandStatus]:
    """The statuses from which ``target`` may be reached."""
    return frozenset(source for source, targets in ALLOWED.items() if target in targets)


def check_transition(current: CommandStatus, target: CommandStatus) -> None:
    """Raise ``InvalidTransition`` unless ``current → target`` is allowed."""
    if target not in ALLOWED[current]:
        raise InvalidTransition(f"command status cannot go from {current} to {target}")
