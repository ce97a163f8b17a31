"""Every guarantee at every crash point: workers killed at named failpoints, at random.

For each failpoint on the deposit, transfer, hook and command paths, a private
stack runs 100 commands while that failpoint ends the pool process running it
(``os._exit``, no cleanup) with some probability on each pass, about ten times a
run (the sign-ups before pass the failpoint too). Celery replaces
the process and, with late acks and reject-on-worker-lost, puts the message it
held back on the queue; the logs must show each fire, each replacement, each
WorkerLostError and each message received again. Afterwards every accepted
command has succeeded exactly once (counted on the commands' change channels),
balances are exact, transfers kept the sum of all balances, each operation has
one ledger entry (saying the balance its change left), each event one audit
record, each message is stored and listed in its inbox once, and each hook's
completion is in its command's trace once.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
import pytest
import redis

from core import keys
from core.failpoints import EXIT_CODE
from events import Event, hook_run_id
from modules.notifications import INBOX_VIEW, NotificationsModule
from tests.e2e.helpers import PASSWORD
from tests.faults.conftest import StackFactory
from tests.faults.harness import FaultStack, wait_for

pytestmark = pytest.mark.faults

COMMANDS = 100
WELCOME = 1000  # enough for any order of the transfers
CONCURRENCY = 40
RUN_BOUND_S = 150.0
LOG_BOUND_S = 30.0
# A command's lease is its time limit: a command redelivered after its process died waits
# that long for the lease to end. Shorter than the harness's 20 s to keep tests short.
TASK_TIME_LIMIT_S = "8"
NOTIFY, AUDIT, FAN_OUT = "notifications.notify", "audit.record", "webhooks.fan_out"


@dataclass(frozen=True)
class User:
    user_id: str
    username: str
    auth: dict[str, str]


@dataclass(frozen=True)
class Order:
    """One command to submit: whose, where, and what it should do to balances."""

    user: User
    path: str
    body: dict[str, Any]
    recipient: User | None = None

    @property
    def amount(self) -> int:
        amount: int = self.body["amount"]
        return amount


@dataclass(frozen=True)
class Accepted:
    order: Order
    command_id: str

    @property
    def event_id(self) -> str:
        """The id of the one event the command emits (wallet_credited, transfer_completed)."""
        return Event.derive_id(self.command_id, 0)

    @property
    def recipients(self) -> list[str]:
        """Who gets an inbox message about it."""
        order = self.order
        return [order.user.user_id] + ([order.recipient.user_id] if order.recipient else [])


@dataclass
class Successes:
    """Counts the ``succeeded`` transitions published on every command's change channel."""

    client: redis.Redis
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._pubsub = self.client.pubsub()  # type: ignore[no-untyped-call]
        self._pubsub.psubscribe(keys.COMMAND_CHANGES_PATTERN)
        confirmed = self._pubsub.get_message(timeout=5)
        assert confirmed is not None and confirmed["type"] == "psubscribe"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            message = self._pubsub.get_message(timeout=0.2)
            if message is not None and message["data"] == "succeeded":
                self.counts[keys.command_id_from_channel(message["channel"])] += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._pubsub.close()


# -- the workloads ----------------------------------------------------------------------------


WAIT = {"Prefer": "wait=30"}


def sign_up_all(base_url: str, count: int) -> list[User]:
    """Register and log in ``count`` users side by side, each waiting for its answers
    (failpoints may fire meanwhile: one user's crash does not hold up the others)."""

    async def run() -> list[User]:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            return await asyncio.gather(*(sign_up(client, f"user{i}") for i in range(count)))

    return asyncio.run(run())


async def sign_up(client: httpx.AsyncClient, tag: str) -> User:
    user = {"email": f"{tag}@faults.test", "username": tag, "password": PASSWORD}
    registered = await client.post("/public/register", json=user, headers=WAIT)
    assert registered.status_code == 201, registered.text
    login = {"email": user["email"], "password": PASSWORD}
    tokens = await client.post("/public/login", json=login, headers=WAIT)
    assert tokens.status_code == 200, tokens.text
    auth = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
    return User(registered.json()["user_id"], tag, auth)


def deposits(users: Sequence[User]) -> list[Order]:
    """Deposits of 1 to 5 credits, taking turns between the users."""
    return [
        Order(users[i % len(users)], "/wallet/deposit", {"amount": 1 + i % 5})
        for i in range(COMMANDS)
    ]


def transfers(users: Sequence[User]) -> list[Order]:
    """Transfers of 1 to 3 credits around the ring of users."""
    orders = []
    for i in range(COMMANDS):
        sender, recipient = users[i % len(users)], users[(i + 1) % len(users)]
        body = {"to_username": recipient.username, "amount": 1 + i % 3}
        orders.append(Order(sender, "/transactions/transfer", body, recipient))
    return orders


def submit(base_url: str, orders: Sequence[Order]) -> list[Accepted]:
    """Submit every order concurrently without waiting; all must be accepted (202)."""

    async def run() -> list[Accepted]:
        limit = asyncio.Semaphore(CONCURRENCY)
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:

            async def one(order: Order) -> Accepted:
                async with limit:
                    response = await client.post(
                        order.path, json=order.body, headers=order.user.auth
                    )
                assert response.status_code == 202, response.text
                return Accepted(order, response.json()["command_id"])

            return await asyncio.gather(*(one(order) for order in orders))

    return asyncio.run(run())


def build_inboxes(stack: FaultStack, users: Sequence[User]) -> None:
    """Once each user's welcome messages are stored, build their inbox views (so hooks'
    appends land there and can be counted), side by side."""
    messages = stack.store["notifications_messages"]

    def welcomed() -> bool:
        return all(messages.count_documents({"user_id": u.user_id}) == 2 for u in users)

    wait_for(welcomed, RUN_BOUND_S, "the welcome messages", stack.log_tails)

    async def run() -> None:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
            answers = await asyncio.gather(
                *(client.get("/notifications", headers={**u.auth, **WAIT}) for u in users)
            )
        for answer in answers:
            assert answer.status_code == 200, answer.text

    asyncio.run(run())


# -- what the logs say -------------------------------------------------------------------------


@dataclass(frozen=True)
class Crashes:
    """What the worker logs say about the crashes and what followed them."""

    fires: int  # the failpoint's own line, just before os._exit
    replaced: int  # billiard saw the pool process exit with EXIT_CODE (and starts another)
    worker_lost: int  # Celery's WorkerLostError for the task the process held
    redeliveries: int  # a message received again, not as a retry Hookline published
    ignored: int  # a redelivered command that had already finished
    # At command.after_events: the events the crashed runs had published, which the
    # command's next run publishes again (the same event ids, a later occurred_at).
    republished: int

    @classmethod
    def read(cls, stack: FaultStack, failpoint: str) -> Crashes:
        logs = [stack.worker_log(g).read_text() for g in range(1, stack.generation + 1)]
        received = Counter(m for log in logs for m in _RECEIVED.findall(log))
        retries = sum(len(_RETRY.findall(log)) for log in logs)
        fired = [c for log in logs for c in _fired_commands(log, failpoint)]
        return cls(
            fires=stack.worker_log_count(f"failpoint {failpoint} fired: exit"),
            replaced=stack.worker_log_count(f"exited with 'exitcode {EXIT_CODE}'"),
            worker_lost=stack.worker_log_count("WorkerLostError('Worker exited prematurely"),
            redeliveries=sum(count - 1 for count in received.values()) - retries,
            ignored=stack.worker_log_count("already finished; redelivery ignored"),
            republished=sum(own_events(c, received) for c in fired)
            if failpoint == "command.after_events"
            else 0,
        )

    @property
    def expected_redeliveries(self) -> int:
        """The message each dead process held, and the events published again."""
        return self.fires + self.republished


_RECEIVED = re.compile(r"Task [\w.]+\[(\w+)\] received")
_RETRY = re.compile(r"Task [\w.]+\[\w+\] retry:")


def _fired_commands(log: str, failpoint: str) -> list[str]:
    """The command (from the log line's context) each fire of ``failpoint`` ended."""
    fired = f"failpoint {failpoint} fired: exit"
    lines = (json.loads(line) for line in log.splitlines() if fired in line)
    return [line["command_id"] for line in lines]


def own_events(command_id: str, received: Counter[str]) -> int:
    """How many events ``command_id`` published (each event is a task named by its id):
    a deposit one, an inbox query (``GET /notifications``) none."""
    count = 0
    while Event.derive_id(command_id, count) in received:
        count += 1
    return count


def crashes_settled(stack: FaultStack, failpoint: str) -> Crashes:
    """The crash figures once every dead process was replaced and its message redelivered."""

    def settled() -> Crashes | None:
        crashes = Crashes.read(stack, failpoint)
        done = crashes.replaced == crashes.worker_lost == crashes.fires
        # At least: the redelivery sweep may also resend a message it took for lost.
        done = done and crashes.redeliveries >= crashes.expected_redeliveries
        if failpoint == "command.after_result":  # and each redelivery found it finished
            # At least: a woken message of a serial line may also find its command finished
            # (the sweep wakes a head again when its first wake-up was not seen in time).
            done = done and crashes.ignored >= crashes.fires
        return crashes if done else None

    def context() -> str:
        return f"{Crashes.read(stack, failpoint)}\n{stack.log_tails()}"

    found: Crashes = wait_for(
        settled, LOG_BOUND_S, "every crash to be replaced and redelivered", context
    )
    return found


# -- the checks --------------------------------------------------------------------------------


def expected_balances(users: Sequence[User], accepted: Sequence[Accepted]) -> dict[str, int]:
    balances = {user.user_id: WELCOME for user in users}
    for item in accepted:
        order = item.order
        if order.recipient is None:
            balances[order.user.user_id] += order.amount
        else:
            balances[order.user.user_id] -= order.amount
            balances[order.recipient.user_id] += order.amount
    return balances


def check_wallets(stack: FaultStack, users: Sequence[User], accepted: Sequence[Accepted]) -> None:
    """Balances exact, nothing left in flight, the sum kept by transfers."""
    wallets = {w["_id"]: w for w in stack.store["wallet_wallets"].find({})}
    expected = expected_balances(users, accepted)
    assert {u: wallets[u]["balance"] for u in expected} == expected
    assert all(wallets[u]["ops_in_flight"] == [] for u in expected)
    if any(item.order.recipient for item in accepted):
        assert sum(expected.values()) == WELCOME * len(users)


def check_ledger(stack: FaultStack, accepted: Sequence[Accepted]) -> None:
    """One ledger entry per operation, no other; each result agrees with its entry."""
    ledger = stack.store["wallet_ledger"]
    transfers = {t["command_id"]: t for t in stack.store["transactions_transfers"].find({})}
    operations = 0
    for item in accepted:
        own = [item.command_id]
        if item.order.recipient is not None:
            transfer = transfers[item.command_id]
            assert transfer["state"] == "completed"
            own = [f"{transfer['_id']}:debit", f"{transfer['_id']}:credit"]
        entries = {e["_id"]: e for e in ledger.find({"_id": {"$in": own}})}
        assert sorted(entries) == sorted(own)
        raw = cast(str | None, stack.redis.hget(keys.command(item.command_id), "result"))
        result = json.loads(raw or "{}")
        assert result["body"]["balance"] == entries[own[0]]["balance_after"]
        operations += len(own)
    assert ledger.count_documents({"kind": {"$ne": "welcome"}}) == operations
    assert len(transfers) == sum(1 for item in accepted if item.order.recipient)
    if not transfers:
        for user_id in {item.order.user.user_id for item in accepted}:
            check_history(list(ledger.find({"user_id": user_id})))


def check_history(entries: list[dict[str, Any]]) -> None:
    """Credits only: in order of the balance they left, each entry's balance is the one
    before it plus its own amount (an entry written late still says what its change left)."""
    entries.sort(key=lambda e: e["balance_after"])
    before = 0
    for entry in entries:
        assert entry["balance_after"] == before + entry["delta"], entry
        before = entry["balance_after"]


def check_records(stack: FaultStack, users: Sequence[User], accepted: Sequence[Accepted]) -> None:
    """One audit record per event; one stored message per event and recipient, no other."""
    audited = Counter(
        d["event_id"]
        for d in stack.store["audit_events"].find(
            {"command_id": {"$in": [a.command_id for a in accepted]}}
        )
    )
    assert audited == Counter(item.event_id for item in accepted)
    wanted = {
        f"{hook_run_id(item.event_id, NOTIFY)}/{user_id}"
        for item in accepted
        for user_id in item.recipients
    }
    messages = stack.store["notifications_messages"]
    stored = [m["_id"] for m in messages.find({"_id": {"$in": sorted(wanted)}})]
    assert sorted(stored) == sorted(wanted)
    welcome_messages = 2 * len(users)  # user_created and the welcome credits, each
    assert messages.count_documents({}) == len(wanted) + welcome_messages


def inbox_duplicates(stack: FaultStack, users: Sequence[User]) -> int:
    """Check each inbox view lists exactly the user's stored messages; the items seen twice."""
    extra = 0
    for user in users:
        key = keys.read_model(NotificationsModule.name, INBOX_VIEW, user.user_id)
        messages = cast(list[str], stack.redis.zrange(key, 0, -1))
        listed = Counter(json.loads(m)["message_id"] for m in messages)
        stored = {
            m["_id"] for m in stack.store["notifications_messages"].find({"user_id": user.user_id})
        }
        extra += sum(count - 1 for count in listed.values())
        assert set(listed) == stored, f"the inbox of {user.username} differs from MongoDB"
    return extra


def trace_duplicates(stack: FaultStack, accepted: Sequence[Accepted]) -> int:
    """Check each command's trace shows every hook of its event completed; completions seen
    more than once."""
    extra = 0
    for item in accepted:
        runs = [
            json.loads(r)
            for r in cast(list[str], stack.redis.lrange(keys.command_hooks(item.command_id), 0, -1))
        ]
        completed = Counter(
            (r["event_id"], f"{r['module']}.{r['handler']}")
            for r in runs
            if r["status"] == "succeeded"
        )
        extra += sum(count - 1 for count in completed.values())
        hooks = (NOTIFY, AUDIT, FAN_OUT)
        assert set(completed) == {(item.event_id, hook) for hook in hooks}, runs
    return extra


# -- the tests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    users: int
    orders: Callable[[Sequence[User]], list[Order]]


# Ten users: deposits and transfers run one at a time per user (``serialize_by``), and a
# crash holds its user's line until the command's lease ends; with ten lines the crashes
# of a run mostly fall on different users, so they overlap instead of adding up.
WORKLOADS = {"deposits": Workload(10, deposits), "transfers": Workload(10, transfers)}
# The probability per pass makes about ten fires a test (what the claim needs: a crash at
# that point, several times, among concurrent commands; not a number of commands): a deposit
# passes each wallet and command failpoint once and each hook failpoint twice (two hooks), a
# transfer each transactions failpoint once and each wallet failpoint twice (debit and credit).
CASES = [
    pytest.param(failpoint, workload, probability, id=f"{failpoint}-{workload}")
    for failpoint, workload, probability in (
        ("wallet.after_balance_update", "deposits", 0.1),
        ("wallet.after_ledger_insert", "deposits", 0.1),
        ("wallet.after_balance_update", "transfers", 0.05),
        ("wallet.after_ledger_insert", "transfers", 0.05),
        ("transactions.after_debit", "transfers", 0.1),
        ("transactions.after_credit", "transfers", 0.1),
        ("hooks.after_effect", "deposits", 0.05),
        ("hooks.after_mark", "deposits", 0.05),
        ("command.after_events", "deposits", 0.1),
        ("command.after_result", "deposits", 0.1),
    )
]


@dataclass(frozen=True)
class Run:
    users: list[User]
    accepted: list[Accepted]
    succeeded: Counter[str]
    crashes: Crashes

    @property
    def ids(self) -> list[str]:
        return [item.command_id for item in self.accepted]


def run(stack: FaultStack, workload: Workload, failpoint: str) -> Run:
    """Sign users up, build their inboxes, submit the orders, wait for every effect."""
    users = sign_up_all(stack.base_url, workload.users)
    build_inboxes(stack, users)
    successes = Successes(stack.redis)
    try:
        accepted = submit(stack.base_url, workload.orders(users))
        stack.await_all_done([item.command_id for item in accepted], RUN_BOUND_S)
        crashes = crashes_settled(stack, failpoint)
    finally:
        successes.close()
    return Run(users, accepted, successes.counts, crashes)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("failpoint", "workload", "probability"), CASES)
def test_100_commands_with_workers_dying_at_a_failpoint_change_everything_once(
    failpoint: str,
    workload: str,
    probability: float,
    fault_stack: StackFactory,
    figures: Callable[..., None],
) -> None:
    """Every 202 succeeds once; balances, ledger, audit, inbox and trace hold each effect once."""
    started = time.monotonic()
    stack = fault_stack(
        HOOKLINE_FAILPOINTS=f"{failpoint}=exit:{probability}",
        HOOKLINE_TASK_TIME_LIMIT_S=TASK_TIME_LIMIT_S,
        HOOKLINE_WALLET_WELCOME_CREDITS=str(WELCOME),
    )
    stack.supervise = True
    done = run(stack, WORKLOADS[workload], failpoint)

    assert {i: done.succeeded[i] for i in done.ids} == dict.fromkeys(done.ids, 1)
    check_wallets(stack, done.users, done.accepted)
    check_ledger(stack, done.accepted)
    check_records(stack, done.users, done.accepted)
    duplicates = inbox_duplicates(stack, done.users) + trace_duplicates(stack, done.accepted)
    assert done.crashes.fires >= 1, "the failpoint never fired: the test proved nothing"
    attempts = stack.attempts(done.ids)
    figures(
        failpoint=failpoint,
        workload=workload,
        commands=len(done.ids),
        fires=done.crashes.fires,
        processes_replaced=done.crashes.replaced,
        worker_lost=done.crashes.worker_lost,
        redeliveries=done.crashes.redeliveries,
        commands_restarted=sum(a > 1 for a in attempts),
        duplicates=duplicates,
        worker_restarts=stack.worker_restarts,
        total_s=time.monotonic() - started,
    )
    assert duplicates == 0
