"""Which (event, hook) runs have completed, kept in MongoDB beside the effects.

A completion record is keyed by the run id (``events.hook_run_id``) and holds
the run's trace record, so whoever finds the record can put the completion in
the command's hook trace if the worker that wrote it died first.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from events import HookRun, hook_run_id, utc_now

COLLECTION = "hookline_hook_runs"


class HookRunLedger:
    def __init__(self, db: Database[dict[str, Any]]) -> None:
        self._runs = db[COLLECTION]

    def completion(self, event_id: str, hook_key: str) -> HookRun | None:
        """The trace record of the run's completion, or None if it has not completed."""
        return self.completions(event_id, [hook_key]).get(hook_key)

    def completions(self, event_id: str, hook_keys: Sequence[str]) -> dict[str, HookRun]:
        """The completed runs among ``hook_keys`` on the event, by hook key, in one query."""
        ids = {hook_run_id(event_id, key): key for key in hook_keys}
        if len(ids) == 1:  # by _id alone: the cheapest lookup there is
            found = [self._runs.find_one({"_id": next(iter(ids))}, {"run": 1})]
        else:
            found = list(self._runs.find({"_id": {"$in": list(ids)}}, {"run": 1}))
        return {
            ids[document["_id"]]: HookRun.model_validate(document["run"])
            for document in found
            if document is not None
        }

    def mark_done(self, event_id: str, hook_key: str, run: HookRun) -> None:
        """Record the run as completed, with its trace record; the first record stays."""
        document = {
            "_id": hook_run_id(event_id, hook_key),
            "at": utc_now(),
            "run": run.model_dump(mode="json"),
        }
        # Two deliveries of one event may both get here; once is what counts.
        with contextlib.suppress(DuplicateKeyError):
            self._runs.insert_one(document)
