"""Finding 8: ``GET /events`` showed anyone the hook table that ``/hooks`` keeps for operators.

The attack: an anonymous caller reads /events and learns which modules' handlers
subscribe to each event, their priorities and which are critical. Now the
event catalogue (names, payload schemas, emitters) stays public documentation,
and the subscribers are shown, as on /hooks, only to holders of ``hooks:read``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack
from tests.e2e.helpers import signed_up
from tests.security.conftest import assert_refused, signed_in_as

pytestmark = pytest.mark.e2e


def subscribers_in(catalogue: dict[str, Any]) -> list[str]:
    """Everything in an AsyncAPI document that names a subscriber."""
    hooks = [name for name, ch in catalogue["channels"].items() if "x-hooks" in ch]
    return hooks + list(catalogue.get("operations", {}))


def test_the_catalogue_is_public_but_its_subscribers_are_not(client: httpx.Client) -> None:
    """Anonymous and plain users get every event and its payload schema, and no hook."""
    _, user = signed_up(client)
    for headers in ({}, user):
        catalogue = client.get("/events", headers=headers).json()
        channel = catalogue["channels"]["user_created"]
        assert channel["messages"]["user_created"]["payload"]["$ref"]
        assert channel["x-emitted-by"] == "user_management"
        assert subscribers_in(catalogue) == []
        for hidden in ("wallet.open_wallet", "critical", "x-priority"):
            assert hidden not in str(catalogue)


def test_hooks_read_shows_the_same_hooks_on_events_and_hooks(
    stack: RunningStack, client: httpx.Client
) -> None:
    """An operator (hooks:read) sees the subscribers on /events, as on /hooks; a user gets
    403 on /hooks and an anonymous caller 401."""
    operator = signed_in_as(stack, client, "operator")
    catalogue = client.get("/events", headers=operator).json()
    table = client.get("/hooks", headers=operator).json()
    for event, hooks in table.items():
        listed = [(h["module"], h["handler"]) for h in catalogue["channels"][event]["x-hooks"]]
        assert listed == [(h["module"], h["handler"]) for h in hooks]
    assert catalogue["operations"]
    assert_refused(client.get("/hooks"), 401)
    _, user = signed_up(client)
    assert_refused(client.get("/hooks", headers=user), 403)
