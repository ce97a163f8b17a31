"""Dead letters in MongoDB, and replaying them.

Workers bury what failed after its last try; operators list, show and replay
letters through admin commands on the bus (the gateway reads only the command history there) or
through ``hookline dead-letters``. A replay sends the very same envelope again:
a command keeps its id, so its effects stay exactly-once through the command-id
keyed idempotency; a hook runs alone, and not at all if it has completed since.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pymongo import DESCENDING, ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from core.celery_app import EVENTS_QUEUE, HOOK_TASK, event_task_name
from core.command_state import CommandStateStore
from core.redelivery import SentMessage
from core.sender import Sender
from events import (
    Command,
    Conflict,
    DeadLetter,
    DeadLetterKind,
    DeadLetterQuery,
    DeadLetterStatus,
    Event,
    NotFound,
    new_id,
    utc_now,
)
from workers.documents import from_document, to_document

log = logging.getLogger(__name__)

COLLECTION = "hookline_dead_letters"
REPLAYABLE = (DeadLetterStatus.DEAD, DeadLetterStatus.REPLAYING)


class DeadLetterStore:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._letters: Collection[dict[str, Any]] = db[COLLECTION]

    def ensure_indexes(self) -> None:
        self._letters.create_index([("status", 1), ("dead_at", DESCENDING)])
        self._letters.create_index([("dead_at", DESCENDING)])

    def bury(self, letter: DeadLetter) -> None:
        """Record ``letter``; the same work dying again updates its letter, replays counted."""
        document = to_document(letter)
        for kept in ("_id", "replays", "replayed_at", "resolved_at"):
            document.pop(kept)
        self._letters.update_one(
            {"_id": letter.id},
            {"$set": document, "$setOnInsert": {"replays": 0}, "$unset": {"resolved_at": ""}},
            upsert=True,
        )
        log.error(
            "dead letter %s: %s after %d tries",
            letter.id,
            letter.error,
            letter.attempts,
            extra={"dead_letter": letter.id, "command_id": letter.command_id},
        )

    def get(self, letter_id: str) -> DeadLetter:
        document = self._letters.find_one({"_id": letter_id})
        if document is None:
            raise NotFound(f"no dead letter {letter_id!r}")
        return from_document(DeadLetter, document)

    def list(self, query: DeadLetterQuery) -> list[DeadLetter]:
        """Newest first."""
        conditions: dict[str, Any] = {}
        if query.status is not None:
            conditions["status"] = query.status.value
        if query.before is not None:
            conditions["dead_at"] = {"$lt": query.before}
        found = self._letters.find(conditions).sort("dead_at", DESCENDING).limit(query.limit)
        return [from_document(DeadLetter, d) for d in found]

    def start_replay(self, letter_id: str) -> DeadLetter:
        """Mark a dead (or already replaying) letter as replaying; Conflict if resolved."""
        document = self._letters.find_one_and_update(
            {"_id": letter_id, "status": {"$in": [s.value for s in REPLAYABLE]}},
            {
                "$set": {"status": DeadLetterStatus.REPLAYING.value, "replayed_at": utc_now()},
                "$inc": {"replays": 1},
            },
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            letter = self.get(letter_id)  # NotFound when there is none
            raise Conflict(f"dead letter {letter_id!r} is {letter.status}; nothing to replay")
        return from_document(DeadLetter, document)

    def purge(self, letter_id: str) -> DeadLetter:
        """Delete a letter for good, unless a replay of it is under way (Conflict)."""
        letter = self.get(letter_id)  # NotFound when there is none
        if letter.status is DeadLetterStatus.REPLAYING:
            raise Conflict(f"dead letter {letter_id!r} is being replayed; purge it once it ends")
        self._letters.delete_one({"_id": letter_id, "status": {"$ne": "replaying"}})
        log.info("purged dead letter %s", letter_id, extra={"dead_letter": letter_id})
        return letter

    def resolve(self, letter_id: str, when: datetime | None = None) -> None:
        """A replay ran to an outcome."""
        self._letters.update_one(
            {"_id": letter_id, "status": DeadLetterStatus.REPLAYING.value},
            {"$set": {"status": DeadLetterStatus.RESOLVED.value, "resolved_at": when or utc_now()}},
        )


class Replayer:
    """Sends a dead letter's envelope again, with a fresh budget of tries."""

    def __init__(self, letters: DeadLetterStore, state: CommandStateStore, sender: Sender) -> None:
        self._letters = letters
        self._state = state
        self._sender = sender

    def replay(self, letter_id: str) -> DeadLetter:
        letter = self._letters.start_replay(letter_id)
        replay = {"replay_of": letter.id}
        if letter.kind is DeadLetterKind.COMMAND:
            command = Command.model_validate(letter.envelope)
            self._state.reopen(command)
            args: list[Any] = [letter.envelope]
            message = SentMessage.now(
                command.id, command.name, command.module, args, keywords=replay
            )
        else:
            event = Event.model_validate(letter.envelope)  # refuse a damaged letter
            if letter.kind is DeadLetterKind.HOOK:
                args, task, task_id = [letter.envelope, letter.hook], HOOK_TASK, new_id()
            else:
                args, task, task_id = [letter.envelope], event_task_name(event.name), event.id
            message = SentMessage.now(task_id, task, EVENTS_QUEUE, args, keywords=replay)
        self._sender.send([message])
        log.info("replaying dead letter %s", letter.id, extra={"dead_letter": letter.id})
        return letter
