"""The command status lifecycle and the transitions it allows."""

from __future__ import annotations

from enum import StrEnum

from events.errors import InvalidTransition


class CommandStatus(StrEnum):
    PUBLISHING = "publishing"
    ACCEPTED = "accepted"
    RUNNING = "running"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    DEAD = "dead"
    REFUSED = "refused"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset(
    {CommandStatus.SUCCEEDED, CommandStatus.FAILED, CommandStatus.DEAD, CommandStatus.REFUSED}
)

# publishing → accepted once the gateway knows the broker holds the command; publishing →
# refused when it answered 503 instead, or when a worker finds it still unconfirmed long
# after (the fence: a command answered 503 never runs, even if the broker kept it).
# accepted → running → succeeded | failed, retrying between runs, dead after the last retry.
# ``running → running`` is a redelivery after a worker died mid-run.
# ``dead → accepted`` is an operator's replay of a dead letter, and nothing else: only
# ``CommandStateStore.reopen`` asks for it. Succeeded and failed are final.
ALLOWED: dict[CommandStatus, frozenset[CommandStatus]] = {
    CommandStatus.PUBLISHING: frozenset({CommandStatus.ACCEPTED, CommandStatus.REFUSED}),
    CommandStatus.ACCEPTED: frozenset({CommandStatus.RUNNING}),
    CommandStatus.RUNNING: frozenset(
        {
            CommandStatus.RUNNING,
            CommandStatus.RETRYING,
            CommandStatus.SUCCEEDED,
            CommandStatus.FAILED,
            CommandStatus.DEAD,
        }
    ),
    CommandStatus.RETRYING: frozenset({CommandStatus.RUNNING, CommandStatus.DEAD}),
    CommandStatus.SUCCEEDED: frozenset(),
    CommandStatus.FAILED: frozenset(),
    CommandStatus.DEAD: frozenset({CommandStatus.ACCEPTED}),
    CommandStatus.REFUSED: frozenset(),
}


def predecessors(target: CommandStatus) -> frozenset[CommandStatus]:
    """The statuses from which ``target`` may be reached."""
    return frozenset(source for source, targets in ALLOWED.items() if target in targets)


def check_transition(current: CommandStatus, target: CommandStatus) -> None:
    """Raise ``InvalidTransition`` unless ``current → target`` is allowed."""
    if target not in ALLOWED[current]:
        raise InvalidTransition(f"command status cannot go from {current} to {target}")
