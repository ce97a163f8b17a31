"""The credits domain end to end: wallets, transfers, notifications, every effect once."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from tests.conftest import RunningStack
from tests.e2e.helpers import bearer, login, new_user, register, signed_up, status_of

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=30"}
Doc = dict[str, Any]


def balance(client: httpx.Client, auth: dict[str, str]) -> int:
    response = client.get("/wallet/balance", headers=auth)
    assert response.status_code == 200, response.text
    value: int = response.json()["balance"]
    return value


def test_register_opens_a_wallet_within_the_same_wait(client: httpx.Client) -> None:
    """After register's wait the wallet holds 100, and hooks ran wallet → notifications →
    audit → webhooks."""
    user = new_user()
    response = register(client, user)
    assert response.status_code == 201
    trace = status_of(client, response)["hooks"]
    on_created = [(h["module"], h["priority"]) for h in trace if h["event"] == "user_created"]
    assert on_created == [("wallet", 10), ("notifications", 50), ("audit", 100), ("webhooks", 900)]
    auth = bearer(login(client, user))
    assert balance(client, auth) == 100
    inbox = client.get("/notifications", headers=auth).json()["items"]
    assert {m["event"] for m in inbox} == {"user_created", "wallet_credited"}


def test_deposit_and_withdraw_move_the_balance(
    pipeline_client: httpx.Client, pipeline_store: Database[Doc]
) -> None:
    """Deposit and withdraw answer the new balance; each writes one ledger entry."""
    client, store = pipeline_client, pipeline_store
    user_id, auth = signed_up(client)
    deposit = client.post("/wallet/deposit", json={"amount": 25}, headers={**auth, **WAIT})
    assert (deposit.status_code, deposit.json()) == (200, {"balance": 125})
    withdraw = client.post("/wallet/withdraw", json={"amount": 5}, headers={**auth, **WAIT})
    assert withdraw.json() == {"balance": 120}
    assert balance(client, auth) == 120
    kinds = sorted(e["kind"] for e in store["wallet_ledger"].find({"user_id": user_id}))
    assert kinds == ["deposit", "welcome", "withdrawal"]


@pytest.mark.parametrize("amount", [0, -1, 1.5, "10", None, True, 10**12])
def test_bad_amounts_are_refused_and_change_nothing(
    client: httpx.Client, store: Database[Doc], amount: object
) -> None:
    """Zero, negative, fractional, string, null, boolean or huge amounts: 422 naming amount."""
    user_id, auth = signed_up(client)
    response = client.post("/wallet/deposit", json={"amount": amount}, headers={**auth, **WAIT})
    assert response.status_code == 422, response.text
    assert "amount" in response.json()["detail"]
    assert balance(client, auth) == 100
    assert store["wallet_ledger"].count_documents({"user_id": user_id}) == 1


def test_withdrawing_more_than_the_balance_is_409(client: httpx.Client) -> None:
    """Insufficient funds is a 409 problem and the balance stays."""
    _, auth = signed_up(client)
    response = client.post("/wallet/withdraw", json={"amount": 101}, headers={**auth, **WAIT})
    assert response.status_code == 409
    assert response.json()["balance"] == 100
    assert balance(client, auth) == 100


def test_200_concurrent_withdrawals_of_1_from_100(
    pipeline: RunningStack, pipeline_client: httpx.Client, pipeline_store: Database[Doc]
) -> None:
    """Exactly 100 succeed and 100 get 409; the balance ends at 0 with 100 withdrawal entries."""
    client, store = pipeline_client, pipeline_store
    user_id, auth = signed_up(client)

    async def withdraw_all() -> list[int]:
        async with httpx.AsyncClient(base_url=pipeline.base_url, timeout=60) as c:
            calls = [
                c.post("/wallet/withdraw", json={"amount": 1}, headers={**auth, **WAIT})
                for _ in range(200)
            ]
            return [r.status_code for r in await asyncio.gather(*calls)]

    statuses = asyncio.run(withdraw_all())
    assert (statuses.count(200), statuses.count(409)) == (100, 100)
    assert balance(client, auth) == 0
    assert store["wallet_wallets"].find_one({"_id": user_id})["balance"] == 0  # type: ignore[index]
    assert store["wallet_ledger"].count_documents({"user_id": user_id, "kind": "withdrawal"}) == 100


def test_transfer_moves_credits_and_lists_history(client: httpx.Client) -> None:
    """A transfer debits the sender, credits the recipient, and shows in both histories."""
    _, alice = signed_up(client)
    bob_user = new_user()
    register(client, bob_user)
    bob = bearer(login(client, bob_user))
    response = client.post(
        "/transactions/transfer",
        json={"to_username": bob_user["username"], "amount": 30},
        headers={**alice, **WAIT},
    )
    assert response.status_code == 200, response.text
    assert response.json()["balance"] == 70
    assert balance(client, bob) == 130
    for auth, direction in ((alice, "out"), (bob, "in")):
        items = client.get("/transactions", headers=auth).json()["items"]
        assert [(i["direction"], i["amount"]) for i in items] == [(direction, 30)]
    bob_inbox = [m["text"] for m in client.get("/notifications", headers=bob).json()["items"]]
    assert any("received 30 credits" in text for text in bob_inbox)


def test_history_is_newest_first_and_paged(client: httpx.Client) -> None:
    """Five transfers page as 2 + 2 + 1, newest first, following the cursor."""
    _, alice = signed_up(client)
    bob = new_user()
    register(client, bob)
    for amount in range(1, 6):
        r = client.post(
            "/transactions/transfer",
            json={"to_username": bob["username"], "amount": amount},
            headers={**alice, **WAIT},
        )
        assert r.status_code == 200
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        page = client.get("/transactions", params=params, headers=alice).json()
        seen += [i["amount"] for i in page["items"]]
        if page["next"] is None:
            break
        params["before"] = page["next"]
    assert seen == [5, 4, 3, 2, 1]


@pytest.mark.parametrize("target", ["self", "unknown"])
def test_transfer_to_self_or_unknown_user_writes_nothing(
    client: httpx.Client, store: Database[Doc], target: str
) -> None:
    """A transfer to oneself is 422, to an unknown user 404; no transfer and no ledger entry."""
    user = new_user()
    user_id = register(client, user).json()["user_id"]
    auth = bearer(login(client, user))
    to = user["username"] if target == "self" else "nobody_" + user["username"]
    response = client.post(
        "/transactions/transfer", json={"to_username": to, "amount": 1}, headers={**auth, **WAIT}
    )
    assert response.status_code == (422 if target == "self" else 404)
    assert response.json()["field"] == "to_username"
    assert store["transactions_transfers"].count_documents({"from_user_id": user_id}) == 0
    assert store["wallet_ledger"].count_documents({"user_id": user_id}) == 1
    assert balance(client, auth) == 100


def test_500_concurrent_random_transfers_keep_the_sum(
    stack: RunningStack, client: httpx.Client, store: Database[Doc]
) -> None:
    """500 concurrent transfers among 20 users keep the sum; every debit has its credit."""
    users = [new_user() for _ in range(20)]
    ids = [register(client, u).json()["user_id"] for u in users]
    auths = [bearer(login(client, u)) for u in users]
    rng = random.Random(7)
    plan = [[*rng.sample(range(20), 2), rng.randint(1, 40)] for _ in range(500)]

    async def run() -> list[int]:
        limit = asyncio.Semaphore(100)
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=120) as c:

            async def one(a: int, b: int, amount: int) -> int:
                async with limit:
                    body = {"to_username": users[b]["username"], "amount": amount}
                    return (
                        await c.post(
                            "/transactions/transfer", json=body, headers={**auths[a], **WAIT}
                        )
                    ).status_code

            return await asyncio.gather(*(one(*p) for p in plan))

    statuses = asyncio.run(run())
    assert set(statuses) <= {200, 409} and statuses.count(200) > 250
    wallets = list(store["wallet_wallets"].find({"_id": {"$in": ids}}))
    assert sum(w["balance"] for w in wallets) == 20 * 100
    assert all(w["balance"] >= 0 for w in wallets)
    ledger = list(
        store["wallet_ledger"].find(
            {"user_id": {"$in": ids}, "kind": {"$in": ["transfer_out", "transfer_in"]}}
        )
    )
    debits = sorted(e["reference"] for e in ledger if e["kind"] == "transfer_out")
    credits = sorted(e["reference"] for e in ledger if e["kind"] == "transfer_in")
    assert debits == credits and len(debits) == statuses.count(200)


def test_balance_is_rebuilt_from_mongodb_when_its_read_model_is_gone(
    client: httpx.Client, redis_client: Any
) -> None:
    """With the balance view deleted, GET /wallet/balance asks a worker, which restores it."""
    user_id, auth = signed_up(client)
    client.post("/wallet/deposit", json={"amount": 11}, headers={**auth, **WAIT})
    assert redis_client.delete(f"hookline:rm:wallet:balance:{user_id}") == 1
    assert balance(client, auth) == 111
    assert redis_client.exists(f"hookline:rm:wallet:balance:{user_id}") == 1
