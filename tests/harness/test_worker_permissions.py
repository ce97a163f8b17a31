"""The worker's second lock: admin commands and key minting check permissions again.

A command that reached the bus without the gateway's check (or with an actor
the gateway no longer would admit) is refused by the worker, by permission.
"""

from __future__ import annotations

from events import Actor, CommandStatus
from events.platform_commands import LIST_DEAD_LETTERS, REPLAY_DEAD_LETTER
from workers.pytest_plugin import HarnessFactory

OPERATOR = Actor(user_id="o", roles=("user", "operator"))
LETTER = {"id": "command:nothing"}


def test_an_operator_lists_dead_letters_but_may_not_replay_one(
    hookline_harness: HarnessFactory,
) -> None:
    """List runs for dead_letters:read; replay is 403 naming dead_letters:manage."""
    harness = hookline_harness("audit")
    listed = harness.submit(LIST_DEAD_LETTERS, {}, actor=OPERATOR)
    assert listed.status is CommandStatus.SUCCEEDED and listed.body["items"] == []
    replay = harness.submit(REPLAY_DEAD_LETTER, LETTER, actor=OPERATOR)
    assert replay.status is CommandStatus.FAILED and replay.status_code == 403
    assert replay.body["permission"] == "dead_letters:manage"
    anonymous = harness.submit(LIST_DEAD_LETTERS, {}, actor=Actor())
    assert anonymous.status_code == 403


def test_a_key_minted_with_a_revoked_key_is_refused(hookline_harness: HarnessFactory) -> None:
    """The worker refuses a key minted with a key it finds revoked, and one for a user it
    does not know, storing nothing."""
    harness = hookline_harness("api_keys", secrets={"admin_emails": "root@x.io"})
    admin_id = harness.submit(
        "user_management.register",
        {"email": "root@x.io", "username": "root", "password": "correct horse battery"},
    ).body["user_id"]
    admin = Actor(user_id=admin_id, roles=("user", "admin"))
    body = {"name": "parent", "scopes": ["api_keys:manage"]}
    parent = harness.submit("api_keys.create", body, actor=admin).body["key_id"]
    harness.submit("api_keys.revoke", {"key_id": parent}, actor=admin)
    by_key = Actor(api_key_id=parent, scopes=("api_keys:manage",))
    refused = harness.submit("api_keys.create", {**body, "name": "child"}, actor=by_key)
    assert refused.status_code == 401
    stranger = Actor(user_id="nobody", roles=("user", "admin"))
    assert harness.submit("api_keys.create", body, actor=stranger).status_code == 401
    assert harness.collection("api_keys", "keys").count_documents({}) == 1
