"""Operator commands on the ``admin`` queue: dead letters listed, shown, replayed, purged.

The gateway reads no MongoDB collection but the command history, so its admin
routes (and the console) submit these commands and wait for their results like
any other command. Each needs its permission (``events.platform_commands.PERMISSION_OF``:
reading dead letters, or replaying and purging them); the
gateway checks it too, this is the second lock, against the same role table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from core.security import RoleTable
from events import (
    Command,
    CommandResult,
    DeadLetter,
    DeadLetterQuery,
    DeadLetterRef,
    InvalidInput,
)
from events.platform_commands import (
    LIST_DEAD_LETTERS,
    PERMISSION_OF,
    PURGE_DEAD_LETTER,
    REPLAY_DEAD_LETTER,
    SHOW_DEAD_LETTER,
)
from workers.dead_letters import DeadLetterStore, Replayer

AdminHandler = Callable[[Mapping[str, Any]], CommandResult]
M = TypeVar("M", bound=BaseModel)


class AdminCommands:
    def __init__(self, letters: DeadLetterStore, replayer: Replayer, roles: RoleTable) -> None:
        self._letters = letters
        self._replayer = replayer
        self._roles = roles
        self._handlers: dict[str, AdminHandler] = {
            LIST_DEAD_LETTERS: self.list_dead_letters,
            SHOW_DEAD_LETTER: self.show_dead_letter,
            REPLAY_DEAD_LETTER: self.replay_dead_letter,
            PURGE_DEAD_LETTER: self.purge_dead_letter,
        }

    def handles(self, name: str) -> bool:
        return name in self._handlers

    def run(self, command: Command) -> CommandResult:
        self._roles.require(command.actor, PERMISSION_OF[command.name])
        return self._handlers[command.name](command.payload)

    def list_dead_letters(self, payload: Mapping[str, Any]) -> CommandResult:
        query = _parse(DeadLetterQuery, payload)
        letters = self._letters.list(query)
        full = len(letters) == query.limit
        body = {
            "items": [_public(letter) for letter in letters],
            "next": letters[-1].dead_at.isoformat() if full else None,
        }
        return CommandResult(body=body)

    def show_dead_letter(self, payload: Mapping[str, Any]) -> CommandResult:
        ref = _parse(DeadLetterRef, payload)
        return CommandResult(body=_public(self._letters.get(ref.id)))

    def replay_dead_letter(self, payload: Mapping[str, Any]) -> CommandResult:
        ref = _parse(DeadLetterRef, payload)
        return CommandResult(body=_public(self._replayer.replay(ref.id)))

    def purge_dead_letter(self, payload: Mapping[str, Any]) -> CommandResult:
        ref = _parse(DeadLetterRef, payload)
        return CommandResult(body=_public(self._letters.purge(ref.id)))


def _public(letter: DeadLetter) -> dict[str, Any]:
    return letter.model_dump(mode="json")


def _parse(model: type[M], payload: Mapping[str, Any]) -> M:
    try:
        return model.model_validate(payload)
    except ValidationError as e:
        raise InvalidInput(f"invalid {model.__name__}: {e.errors(include_url=False)}") from e
