"""The gateway's side of the command history (``core.history``).

It writes what only the gateway sees (a command accepted or scheduled, a cancel before
it started) and reads what the console shows. Writes go through ``HistoryRecorder``,
off the request's path; reads run in a thread, since pymongo blocks.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

from pymongo import MongoClient

from core.history import (
    CommandSummary,
    HistoryPage,
    HistoryQuery,
    HistoryRecorder,
    HistoryStore,
)
from core.settings import Settings
from core.stores import MongoDocument, connect_mongo, mongo_database
from events import Command, CommandStatus, utc_now


class GatewayHistory:
    def __init__(self, client: MongoClient[MongoDocument], store: HistoryStore) -> None:
        self._client = client
        self._store = store
        self._recorder = HistoryRecorder(store)

    @classmethod
    def from_settings(cls, settings: Settings) -> GatewayHistory:
        client = connect_mongo(settings)
        return cls(
            client, HistoryStore(mongo_database(client, settings), settings.history_retention_s)
        )

    # -- writes: the gateway's seam ---------------------------------------------------------

    def accepted(self, command: Command, status: CommandStatus) -> None:
        """``command`` is on the broker (accepted) or in the schedule (scheduled)."""
        self._recorder.accepted(command, status, utc_now())

    def cancelled(self, command_id: str) -> None:
        """``command_id`` was cancelled before it started: it never runs."""
        self._recorder.status(command_id, CommandStatus.CANCELLED)

    # -- reads ------------------------------------------------------------------------------

    async def find(self, query: HistoryQuery) -> HistoryPage:
        return await asyncio.to_thread(self._store.find, query)

    async def get(self, command_id: str) -> CommandSummary | None:
        return await asyncio.to_thread(self._store.get, command_id)

    async def outcomes_per_minute(self, minutes: int) -> dict[datetime, Counter[str]]:
        return await asyncio.to_thread(self._store.outcomes_per_minute, minutes)

    def close(self) -> None:
        self._recorder.close()
        self._client.close()
