"""User records from before the normalized keys: a worker start gives them their keys."""

from __future__ import annotations

from typing import Any

import pytest

from events import CommandStatus, ConfigurationError
from workers.pytest_plugin import HarnessFactory
from workers.testing import Harness

USER = {"email": "Ada@Example.com", "username": "Ada", "password": "correct horse battery"}
NO_KEYS = {"$unset": {"email_key": "", "username_key": ""}}


def restart(harness: Harness) -> None:
    """What a worker does at start for the module: its indexes, and the keys before them."""
    harness.runtime.modules.loaded["user_management"].ensure_indexes()


def users(harness: Harness) -> Any:
    return harness.collection("user_management", "users")


def test_a_record_without_keys_gets_them_and_is_found_by_them(
    hookline_harness: HarnessFactory,
) -> None:
    """An old record (display forms only) is keyed at start; login then finds it by key."""
    harness = hookline_harness("user_management")
    user_id = harness.submit("user_management.register", USER).body["user_id"]
    users(harness).update_one({"_id": user_id}, NO_KEYS)
    restart(harness)
    stored = users(harness).find_one({"_id": user_id})
    assert (stored["email_key"], stored["username_key"]) == ("ada@example.com", "ada")
    run = harness.submit(
        "user_management.login", {"email": "ADA@example.com.", "password": USER["password"]}
    )
    assert run.status is CommandStatus.SUCCEEDED, run.body


def test_two_old_records_that_normalize_the_same_stop_the_start(
    hookline_harness: HarnessFactory,
) -> None:
    """``Ada`` and ``ADA`` registered before the keys cannot both be kept: start-up says so."""
    harness = hookline_harness("user_management")
    user_id = harness.submit("user_management.register", USER).body["user_id"]
    twin = {**users(harness).find_one({"_id": user_id}), "_id": "twin", "username": "ADA"}
    twin["email"] = "twin@example.com"
    users(harness).insert_one({k: v for k, v in twin.items() if not k.endswith("_key")})
    with pytest.raises(ConfigurationError, match="normalized email or username"):
        restart(harness)
