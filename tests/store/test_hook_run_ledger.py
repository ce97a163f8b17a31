"""The hook-run ledger against the MongoDB-protocol server: completions, read one or many."""

from __future__ import annotations

from typing import Any

from pymongo.database import Database

from tests.store.records import hook_run as run
from workers.hook_runs import HookRunLedger


def test_the_completed_runs_of_an_event_are_read_in_one_query_and_the_first_record_stays(
    mongo_db: Database[dict[str, Any]],
) -> None:
    ledger = HookRunLedger(mongo_db)
    keys = ["audit.record", "wallet.open", "webhooks.fan_out"]
    assert ledger.completions("e1", keys) == {}
    ledger.mark_done("e1", "audit.record", run("audit.record"))
    ledger.mark_done("e1", "webhooks.fan_out", run("webhooks.fan_out"))
    ledger.mark_done("e1", "audit.record", run("audit.again"))  # a second record: ignored
    ledger.mark_done("e2", "wallet.open", run("wallet.open"))  # another event's
    found = ledger.completions("e1", keys)
    assert {key: r.key for key, r in found.items()} == {
        "audit.record": "audit.record",
        "webhooks.fan_out": "webhooks.fan_out",
    }
    assert ledger.completion("e1", "wallet.open") is None
    assert ledger.completion("e2", "wallet.open") is not None
