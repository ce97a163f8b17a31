"""``hookline.client.Client`` against the real stack: submit, read, follow, problems, claims,
and a retry after a lost answer that runs the command once."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from hookline.client import (
    Accepted,
    Client,
    CommandStatus,
    Conflict,
    DoneEvent,
    HookEvent,
    InvalidRequest,
    NotFound,
    Outcome,
    StatusEvent,
    Unauthorized,
    UnknownCommand,
)
from tests.conftest import RunningStack
from tests.e2e.client_helpers import LosesFirstAnswer, access_token
from tests.e2e.helpers import new_user

pytestmark = pytest.mark.e2e

WAIT_S = 10


@pytest.fixture
def user(stack: RunningStack, client: httpx.Client) -> Iterator[Client]:
    """A client acting for a new user."""
    with Client(stack.base_url, token=access_token(client)) as api:
        yield api


def balance(api: Client) -> int:
    outcome = api.submit("wallet.balance")
    assert isinstance(outcome, Outcome) and outcome.status_code == 200
    value: int = outcome.body["balance"]
    return value


def test_submit_answers_accepted_and_wait_reads_the_done_document(user: Client) -> None:
    """Without ``wait`` a command is ``Accepted``; ``wait`` returns it done, hooks run."""
    accepted = user.submit("/wallet/deposit", {"amount": 4})
    assert isinstance(accepted, Accepted)
    assert accepted.status is CommandStatus.ACCEPTED and not accepted.replayed
    assert accepted.status_url == f"/commands/{accepted.command_id}"
    document = user.wait(accepted.command_id, timeout=WAIT_S)
    assert document.is_done and document.status is CommandStatus.SUCCEEDED
    assert document.name == "wallet.deposit" and document.attempts == 1
    assert [f"{h.module}.{h.handler}" for h in document.hooks] == [
        "notifications.notify",
        "audit.record",
        "webhooks.fan_out",
    ]
    assert user.get(accepted.command_id) == document


def test_submit_with_wait_answers_the_outcome(user: Client) -> None:
    """With ``wait`` the route's own status and body come back, with the command's id."""
    before = balance(user)
    outcome = user.submit("wallet.deposit", {"amount": 6}, wait=WAIT_S)
    assert isinstance(outcome, Outcome)
    assert outcome.status_code == 200 and outcome.body["balance"] == before + 6
    assert outcome.command_id is not None
    assert user.get(outcome.command_id).result is not None


def test_a_command_name_resolves_through_openapi_like_its_path(user: Client) -> None:
    """``wallet.deposit`` and ``POST /wallet/deposit`` name the same route; an unknown name
    is refused before anything is sent."""
    by_name = user.submit("wallet.deposit", {"amount": 1}, wait=WAIT_S)
    by_path = user.submit("POST /wallet/deposit", {"amount": 1}, wait=WAIT_S)
    assert isinstance(by_name, Outcome) and isinstance(by_path, Outcome)
    assert by_path.body["balance"] == by_name.body["balance"] + 1
    with pytest.raises(UnknownCommand, match=r"no command 'wallet\.nope'"):
        user.submit("wallet.nope")


def test_follow_yields_status_and_hooks_then_done(user: Client) -> None:
    """The stream's events come typed: status changes, each hook run, ``done`` last."""
    accepted = user.submit("wallet.deposit", {"amount": 2})
    assert isinstance(accepted, Accepted)
    events = list(user.follow(accepted.command_id))
    assert isinstance(events[0], StatusEvent) and isinstance(events[-1], DoneEvent)
    statuses = [e.status for e in events if isinstance(e, StatusEvent)]
    assert statuses[-1] is CommandStatus.SUCCEEDED
    hooks = [e.run for e in events if isinstance(e, HookEvent)]
    assert hooks == list(events[-1].document.hooks)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))


def test_problems_are_typed_exceptions(stack: RunningStack, user: Client) -> None:
    """A bad field or header is ``InvalidRequest`` naming it (422, 400), an unknown id
    ``NotFound``, a missing token ``Unauthorized``, and a refused command's outcome a
    ``Conflict`` with its id."""
    with pytest.raises(InvalidRequest) as invalid:
        user.submit("wallet.deposit", {"amount": "lots"})
    assert invalid.value.status == 422 and "amount" in invalid.value.fields
    assert invalid.value.command_id is None  # refused at the door: no command
    with pytest.raises(InvalidRequest) as bad_key:
        user.submit("wallet.deposit", {"amount": 1}, idempotency_key="two words")
    assert bad_key.value.status == 400 and bad_key.value.fields == ("Idempotency-Key",)
    with pytest.raises(NotFound) as missing:
        user.get("0" * 32)
    assert missing.value.status == 404 and missing.value.document.title
    with Client(stack.base_url) as anonymous, pytest.raises(Unauthorized):
        anonymous.submit("wallet.deposit", {"amount": 1})
    with pytest.raises(Conflict) as refused:
        user.submit("wallet.withdraw", {"amount": 10**6}, wait=WAIT_S)
    assert refused.value.command_id is not None
    document = user.get(refused.value.command_id)
    assert document.status is CommandStatus.FAILED and document.error is not None
    assert document.error.status == 409


def test_an_anonymous_commands_claim_is_kept_and_sent_back(stack: RunningStack) -> None:
    """Register answers a claim; the client reads the command with it, and so does another
    client given it; without it the command is ``NotFound``."""
    with Client(stack.base_url) as anonymous:
        accepted = anonymous.submit("user_management.register", new_user())
        assert isinstance(accepted, Accepted) and accepted.claim
        assert "claim" not in repr(accepted)  # a credential
        document = anonymous.wait(accepted.command_id, timeout=WAIT_S)
        assert document.status is CommandStatus.SUCCEEDED
        assert anonymous.get(accepted.command_id) == document
    with Client(stack.base_url) as other:
        with pytest.raises(NotFound):
            other.get(accepted.command_id)
        assert other.get(accepted.command_id, claim=accepted.claim) == document


def test_a_lost_answer_is_retried_with_the_same_key_and_runs_once(
    stack: RunningStack, client: httpx.Client
) -> None:
    """The first answer never arrives; the client sends the deposit again with the same
    Idempotency-Key and gets the replay of the one command that ran."""
    transport = LosesFirstAnswer()
    with Client(stack.base_url, token=access_token(client), transport=transport) as api:
        before = balance(api)
        outcome = api.submit("/wallet/deposit", {"amount": 7}, wait=WAIT_S)
        assert isinstance(outcome, Outcome) and outcome.replayed
        keys = [r.headers["Idempotency-Key"] for r in transport.posts]
        assert len(keys) == 2 and keys[0] == keys[1]
        assert outcome.body["balance"] == before + 7 == balance(api)
        assert outcome.command_id is not None
        assert api.get(outcome.command_id).attempts == 1
