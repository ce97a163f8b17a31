"""The reference hooks' pure decisions are keyed by the run id the framework hands them."""

from __future__ import annotations

from datetime import UTC, datetime

from events import Event, Received, hook_key, hook_run_id
from modules.notifications import NotificationsModule
from modules.transactions.models import TransferCompleted
from modules.wallet import WalletModule

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _event(name: str, payload: dict[str, object]) -> Event:
    return Event(
        id="e1",
        name=name,
        payload=payload,
        occurred_at=WHEN,
        correlation_id="c",
        causation_id="c",
        command_id="c",
    )


def test_the_run_id_is_the_event_id_and_the_hook_key() -> None:
    """One format, one place: ``<event id>/<module>.<handler>``."""
    assert hook_run_id("e1", "audit.record") == "e1/audit.record"


def test_the_hook_key_is_the_module_and_the_handler() -> None:
    """The key registration, the runner and the trace readers share: ``<module>.<handler>``."""
    assert hook_key("audit", "record") == "audit.record"
    assert hook_run_id("e1", hook_key("audit", "record")) == "e1/audit.record"


def test_messages_are_keyed_by_run_and_recipient_and_timed_to_the_millisecond() -> None:
    """A transfer makes one message per party, each keyed by the run id and its recipient;
    the time is cut to the millisecond, as MongoDB stores it, so it reads back the same."""
    event = _event(
        "transfer_completed",
        {
            "transfer_id": "t1",
            "from_user_id": "ada",
            "from_username": "ada",
            "to_user_id": "bob",
            "to_username": "bob",
            "amount": 3,
        },
    )
    run_id = hook_run_id(event.id, "notifications.notify")
    received = Received(event, TransferCompleted.model_validate(event.payload))
    messages = NotificationsModule.messages_for(received, run_id)
    assert [m.message_id for m in messages] == [f"{run_id}/ada", f"{run_id}/bob"]
    assert {m.created_at for m in messages} == {WHEN.replace(microsecond=678000)}
    assert NotificationsModule.messages_for(received, run_id) == messages


def test_the_welcome_credits_are_an_operation_keyed_by_the_run_id() -> None:
    """The welcome operation's id is the hook run's id; it still references its event."""
    module = WalletModule()
    module.initialize({"welcome_credits": "100", "max_amount": "1000"})
    run_id = hook_run_id("e1", "wallet.open_wallet")
    operation = module.welcome("ada", "e1", run_id)
    assert (operation.op_id, operation.reference, operation.delta) == (run_id, "e1", 100)
