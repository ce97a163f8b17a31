"""Which (event, hook) pairs have completed, kept in MongoDB beside the effects."""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from events import utc_now

COLLECTION = "hookline_hook_runs"


class HookRunLedger:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._runs = db[COLLECTION]

    @staticmethod
    def _id(event_id: str, hook_key: str) -> str:
        return f"{event_id}:{hook_key}"

    def is_done(self, event_id: str, hook_key: str) -> bool:
        return self._runs.find_one({"_id": self._id(event_id, hook_key)}, {"_id": 1}) is not None

    def mark_done(self, event_id: str, hook_key: str) -> None:
        # A redelivered event may get here twice; once is what counts.
        with contextlib.suppress(DuplicateKeyError):
            self._runs.insert_one({"_id": self._id(event_id, hook_key), "at": utc_now()})
