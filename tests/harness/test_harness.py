"""The module authors' harness: real runtime and orchestrators in-process, no broker."""

from __future__ import annotations

from typing import Any

import pytest

from events import Actor, CommandStatus
from modules.wallet import BALANCE_VIEW, WalletModule
from workers.pytest_plugin import HarnessFactory

USER = {"email": "ada@example.com", "username": "ada", "password": "correct horse battery"}


def test_register_runs_every_hook_of_user_created_in_dispatch_order(
    hookline_harness: HarnessFactory,
) -> None:
    """A registration emits user_created, whose hooks run in priority order, then follow-ups."""
    harness = hookline_harness("notifications", "audit")
    run = harness.submit("user_management.register", USER)
    assert run.status is CommandStatus.SUCCEEDED and run.status_code == 201
    created = run.assert_emitted("user_created", username="ada")
    assert created["email"] == "ada@example.com"
    expected = ["wallet.open_wallet", "notifications.notify", "audit.record"]
    assert harness.dispatch_order("user_created") == expected
    run.assert_hook_order("user_created", expected)
    # open_wallet's welcome credits emit wallet_credited, dispatched after user_created.
    assert run.event_names == ["user_created", "wallet_credited"]
    run.assert_emitted("wallet_credited", amount=100, kind="welcome")
    run.assert_no_failed_hooks()
    assert run.document.hooks_pending == 0


def test_secrets_reach_the_module_and_effects_land_in_mongodb(
    hookline_harness: HarnessFactory,
) -> None:
    """Secrets given to the harness configure the module; a deposit changes the stored wallet."""
    harness = hookline_harness("wallet", secrets={"welcome_credits": "7"})
    user_id = harness.submit("user_management.register", USER).body["user_id"]
    actor = Actor(user_id=user_id, roles=("user",))
    run = harness.submit("wallet.deposit", {"amount": 5}, actor=actor)
    assert run.status is CommandStatus.SUCCEEDED and run.body == {"balance": 12}
    run.assert_emitted("wallet_credited", amount=5, balance=12, kind="deposit")
    wallet: dict[str, Any] | None = harness.collection("wallet", "wallets").find_one(
        {"_id": user_id}
    )
    assert wallet is not None and wallet["balance"] == 12
    assert harness.read_model(WalletModule.name, BALANCE_VIEW, user_id)["balance"] == 12


def test_a_domain_error_fails_the_command_with_its_problem(
    hookline_harness: HarnessFactory,
) -> None:
    """Withdrawing more than the balance fails with 409 and emits nothing."""
    harness = hookline_harness("wallet", secrets={"welcome_credits": "0"})
    user_id = harness.submit("user_management.register", USER).body["user_id"]
    run = harness.submit("wallet.withdraw", {"amount": 3}, actor=Actor(user_id=user_id))
    assert run.status is CommandStatus.FAILED and run.status_code == 409
    assert run.body["type"].endswith("insufficient-funds")
    assert run.events == ()


def test_an_invalid_payload_fails_with_422_naming_the_field(
    hookline_harness: HarnessFactory,
) -> None:
    """The runtime validates the payload against the route's request model."""
    harness = hookline_harness("user_management")
    run = harness.submit("user_management.register", {**USER, "email": "not-an-email"})
    assert run.status_code == 422
    assert [e["loc"] for e in run.body["errors"]] == [["email"]]


def test_publish_runs_the_hooks_of_an_event_alone(hookline_harness: HarnessFactory) -> None:
    """An event published directly runs its hooks, as a hook author's unit test would want."""
    harness = hookline_harness("notifications")
    payload = {"user_id": "u1", "amount": 4, "balance": 9, "kind": "deposit", "op_id": "op-1"}
    run = harness.publish("wallet_credited", payload)
    assert run.hook_order == ["notifications.notify"]
    messages = list(harness.collection("notifications", "messages").find({"user_id": "u1"}))
    assert [m["text"] for m in messages] == ["4 credits added (deposit); balance 9."]


def test_assertion_helpers_fail_when_the_expectation_does_not_hold(
    hookline_harness: HarnessFactory,
) -> None:
    """assert_emitted and assert_hook_order raise AssertionError on a mismatch."""
    harness = hookline_harness("user_management")
    run = harness.submit("user_management.register", USER)
    with pytest.raises(AssertionError, match="expected one 'user_created'"):
        run.assert_emitted("user_created", username="somebody else")
    with pytest.raises(AssertionError, match="ran as"):
        run.assert_hook_order("user_created", ["wallet.open_wallet"])


def test_an_unknown_module_is_refused_by_name(hookline_harness: HarnessFactory) -> None:
    """Naming a module that does not exist fails with its name."""
    with pytest.raises(LookupError, match="no module 'nope'"):
        hookline_harness("nope")


def test_credentials_are_sealed_and_a_login_hands_its_tokens_over_once(
    hookline_harness: HarnessFactory,
) -> None:
    """As over the bus: the password travels sealed; the tokens reach the submitter once."""
    harness = hookline_harness("user_management")
    harness.submit("user_management.register", USER)
    run = harness.submit(
        "user_management.login", {"email": USER["email"], "password": USER["password"]}
    )
    assert "password" not in run.command.payload and run.command.sealed is not None
    assert run.body["access_token"] and run.body["refresh_token"]
    stored = harness.services.state.read(run.command.id)
    assert stored is not None and stored.result_redacted
    assert stored.result is not None and "access_token" not in (stored.result.body or {})
