"""Every reference hook, run a second time with its run id, changes nothing.

That is what a worker that died after a hook's effects and before its
completion record causes: the event comes back and the hook runs again, with
the same run id, on an envelope that may carry another time. The test plays
it in-process against the real stores, for every hook a registration, a
deposit and a transfer cause, with the users' inbox views built (so appends
land), and compares MongoDB and the read models before and after.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from events import Actor, Event
from events.hooks import received
from workers.context import HookContext
from workers.pytest_plugin import HarnessFactory
from workers.testing import Harness

ADA = {"email": "ada@example.com", "username": "ada", "password": "correct horse battery"}
BOB = {"email": "bob@example.com", "username": "bob", "password": "correct horse battery"}


def _snapshot(harness: Harness, user_ids: list[str]) -> dict[str, Any]:
    """Every document of every module collection, and every read model of the users."""
    db = harness.services.db
    documents = {
        name: sorted(db[name].find({}), key=lambda d: str(d["_id"]))
        for name in db.list_collection_names()
        if not name.startswith("hookline_")
    }
    client = harness.services.redis
    views: dict[str, Any] = {}
    for user_id in user_ids:
        for key in client.scan_iter(match=f"hookline:rm:*:{user_id}*"):
            kind = client.type(key)
            views[key] = (
                client.zrange(key, 0, -1, withscores=True) if kind == "zset" else client.get(key)
            )
    return {"documents": documents, "views": views}


def _run_again(harness: Harness, event: Event) -> list[Event]:
    """Run each hook of ``event`` once more with its run id, on a later copy of the envelope;
    the events those runs emitted."""
    runtime = harness.runtime
    again = event.model_copy(update={"occurred_at": event.occurred_at + timedelta(seconds=7)})
    emitted: list[Event] = []
    for hook in runtime.hooks.hooks_for(event.name):
        ctx = HookContext.for_hook(again, hook.key, runtime.catalogue, 8)
        hook.handler(received(runtime.catalogue, again), ctx)
        emitted += ctx.events
    return emitted


def test_every_hook_run_again_with_its_run_id_changes_no_record_and_no_view(
    hookline_harness: HarnessFactory,
) -> None:
    """Registrations, a deposit, a transfer: each of their hooks run twice leaves MongoDB and
    the read models as one run left them, and emits the very same follow-up events."""
    harness = hookline_harness("notifications", "audit")
    events: list[Event] = []
    actors = []
    for user in (ADA, BOB):
        run = harness.submit("user_management.register", user)
        events += run.events
        actors.append(Actor(user_id=run.body["user_id"], roles=("user",)))
    ada, bob = actors
    for actor in actors:  # build the inbox views, so the hooks' appends land in them
        harness.submit("notifications.inbox", {}, actor=actor)
    events += harness.submit("wallet.deposit", {"amount": 5}, actor=ada).events
    events += harness.submit(
        "transactions.transfer", {"to_username": "bob", "amount": 3}, actor=ada
    ).events
    user_ids = [str(ada.user_id), str(bob.user_id)]
    before = _snapshot(harness, user_ids)
    assert len(before["views"]) >= 4  # the inboxes and balances are there to be compared

    emitted_again = [e for event in events for e in _run_again(harness, event)]

    assert _snapshot(harness, user_ids) == before
    first_ids = {e.id for e in events}
    assert emitted_again and {e.id for e in emitted_again} <= first_ids
    assert {e.name for e in events} >= {
        "user_created",
        "wallet_credited",
        "transfer_completed",
    }
