"""``hookline.client.AsyncClient`` against the real stack: the same calls as ``Client``,
awaited, with the stream as an async iterator."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from hookline.client import (
    Accepted,
    AsyncClient,
    CommandStatus,
    DoneEvent,
    HookEvent,
    InvalidRequest,
    NotFound,
    Outcome,
    StatusEvent,
    StreamEvent,
    UnknownCommand,
    WaitTimeout,
)
from tests.conftest import RunningStack
from tests.e2e.client_helpers import AsyncLosesFirstAnswer, access_token
from tests.e2e.helpers import new_user

pytestmark = pytest.mark.e2e

WAIT_S = 10


@pytest.fixture
def token(client: httpx.Client) -> str:
    return access_token(client)


def test_submit_get_and_wait(stack: RunningStack, token: str) -> None:
    """A path target answers ``Accepted``, a command name with ``wait`` the ``Outcome``;
    ``wait`` and ``get`` read the same done document."""

    async def scenario() -> None:
        async with AsyncClient(stack.base_url, token=token) as api:
            accepted = await api.submit("/wallet/deposit", {"amount": 3})
            assert isinstance(accepted, Accepted)
            document = await api.wait(accepted.command_id, timeout=WAIT_S)
            assert document.is_done and document.status is CommandStatus.SUCCEEDED
            assert document.result is not None
            assert await api.get(accepted.command_id) == document
            outcome = await api.submit("wallet.deposit", {"amount": 2}, wait=WAIT_S)
            assert isinstance(outcome, Outcome) and outcome.status_code == 200
            assert outcome.body["balance"] == document.result.body["balance"] + 2
            with pytest.raises(UnknownCommand):
                await api.submit("wallet.nope")

    asyncio.run(scenario())


def test_follow_is_an_async_iterator_of_typed_events(stack: RunningStack, token: str) -> None:
    """Status changes and hook runs come as they happen, ``done`` last, then it ends."""

    async def scenario() -> list[StreamEvent]:
        async with AsyncClient(stack.base_url, token=token) as api:
            accepted = await api.submit("wallet.deposit", {"amount": 1})
            assert isinstance(accepted, Accepted)
            return [event async for event in api.follow(accepted.command_id)]

    events = asyncio.run(scenario())
    assert isinstance(events[0], StatusEvent) and isinstance(events[-1], DoneEvent)
    hooks = [e.run for e in events if isinstance(e, HookEvent)]
    assert hooks == list(events[-1].document.hooks) and hooks


def test_problems_and_an_early_wait_timeout(stack: RunningStack, token: str) -> None:
    """A bad field is ``InvalidRequest`` naming it, an unknown id ``NotFound``; a wait shorter
    than the command is ``WaitTimeout`` and the command still finishes."""

    async def scenario() -> None:
        async with AsyncClient(stack.base_url, token=token) as api:
            with pytest.raises(InvalidRequest) as invalid:
                await api.submit("wallet.deposit", {"amount": -1, "extra": 1})
            assert {"amount", "extra"} <= set(invalid.value.fields)
            with pytest.raises(NotFound):
                await api.get("f" * 32)
            accepted = await api.submit("user_management.register", new_user())
            assert isinstance(accepted, Accepted)
            with pytest.raises(WaitTimeout):  # argon2 hashing takes longer than this
                await api.wait(accepted.command_id, timeout=0.01)
            assert (await api.wait(accepted.command_id, timeout=WAIT_S)).is_done

    asyncio.run(scenario())


def test_a_lost_answer_of_an_anonymous_command_is_retried_and_claimed(
    stack: RunningStack,
) -> None:
    """Register's first answer is lost: the retry with the same key gets the replay, with
    a claim of its own that the client keeps and sends back."""
    transport = AsyncLosesFirstAnswer()

    async def scenario() -> None:
        async with AsyncClient(stack.base_url, transport=transport) as api:
            outcome = await api.submit("/public/register", new_user(), wait=WAIT_S)
            assert isinstance(outcome, Outcome) and outcome.replayed
            assert outcome.status_code == 201 and outcome.claim and outcome.command_id
            document = await api.get(outcome.command_id)
            assert document.status is CommandStatus.SUCCEEDED and document.attempts == 1
            async with contextlib.aclosing(api.follow(outcome.command_id)) as events:
                assert isinstance(await anext(events), StatusEvent)

    asyncio.run(scenario())
    first, second = transport.posts
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"]
