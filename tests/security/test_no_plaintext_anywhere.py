"""After a run that handles every kind of credential, none rests in plaintext anywhere.

The run, on a private stack (its own Redis as broker and state, a worker and a
gateway sending task events, Flower watching): an admin and a user register and
log in, waited and not; a refresh; the admin mints an API key and it is used; a
login whose user record is corrupt fails into a dead letter, is listed and shown
through ``/admin/dead-letters``, and succeeds when replayed after the repair.
Then the leak guard looks for every password, token, key and claim of that run
in every Redis key, every MongoDB document, every command Redis received
(broker messages decoded), the gateway, worker and Flower logs, and Flower's
task API.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient
from pymongo.database import Database

from tests.conftest import RunningStack
from tests.e2e.helpers import PASSWORD, bearer, claim, new_user, register
from tests.leaks import BusRecorder, assert_no_leaks, watched_stack
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=10"}
ADMIN_EMAIL = "keeper@leaks.test"
USERS = "user_management_users"
DONE_S = 30.0


@dataclass
class Run:
    """A client of the private stack that remembers every credential it saw."""

    http: httpx.Client
    secrets: dict[str, str] = field(default_factory=dict)

    def keep(self, label: str, value: str) -> str:
        self.secrets[f"{label} #{len(self.secrets)}"] = value
        return value

    def keep_tokens(self, label: str, body: dict[str, Any]) -> dict[str, str]:
        for name in ("access_token", "refresh_token"):
            self.keep(f"{label} {name}", body[name])
        return bearer(body)

    def keep_claim(self, response: httpx.Response) -> dict[str, str]:
        self.keep("claim", response.headers["Command-Claim"])
        return claim(response)

    def sign_up(self, user: dict[str, str]) -> None:
        self.keep("password", user["password"])
        response = register(self.http, user)
        assert response.status_code == 201, response.text
        self.keep_claim(response)

    def login(self, user: dict[str, str], wait: bool) -> httpx.Response:
        body = {"email": user["email"], "password": user["password"]}
        response = self.http.post("/public/login", json=body, headers=WAIT if wait else {})
        self.keep_claim(response)
        return response

    def finished(self, response: httpx.Response, headers: dict[str, str]) -> dict[str, Any]:
        """The first read of the command that finds it done (the one that takes secrets)."""
        deadline = time.monotonic() + DONE_S
        while True:
            document: dict[str, Any] = self.http.get(
                response.headers["Location"], headers=headers
            ).json()
            if document["status"] in ("succeeded", "failed", "dead"):
                return document
            assert time.monotonic() < deadline, document
            time.sleep(0.1)


@pytest.fixture
def private(stack_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[RunningStack, str]]:
    settings = {
        "HOOKLINE_MONGO_DB": f"leaks_{uuid.uuid4().hex[:8]}",
        "HOOKLINE_ADMIN_EMAILS": ADMIN_EMAIL,
        "HOOKLINE_POISON_MAX_RETRIES": "1",
        "HOOKLINE_RETRY_BACKOFF_BASE_S": "0.2",
        "HOOKLINE_RETRY_BACKOFF_MAX_S": "1",
        # The most a log could say: if a credential were ever logged, it would be here.
        "HOOKLINE_LOG_LEVEL": "DEBUG",
    }
    with watched_stack(stack_env, tmp_path, **settings) as running:
        yield running


def test_no_credential_of_a_whole_run_rests_anywhere(
    private: tuple[RunningStack, str], servers: Any
) -> None:
    stack, flower_url = private
    redis_url = stack.env["REDIS_URL"]
    mongo: MongoClient[dict[str, Any]] = MongoClient(stack.env["MONGO_URL"], tz_aware=True)
    store = mongo[stack.env["HOOKLINE_MONGO_DB"]]
    try:
        with (
            BusRecorder(redis_url) as recorder,
            httpx.Client(base_url=stack.base_url, timeout=40) as http,
        ):
            run = Run(http)
            exercise(run, store)
            wait_for_flower_tasks(flower_url, minimum=10)
        assert stack.log_dir is not None
        assert_no_leaks(
            run.secrets,
            redis_url=redis_url,
            mongo_url=stack.env["MONGO_URL"],
            mongo_db=store.name,
            logs=sorted(stack.log_dir.glob("*.log")),
            recorder=recorder,
            flower_url=flower_url,
        )
    finally:
        mongo.close()
    assert len(run.secrets) >= 20 and len(recorder.lines) > 100  # the scan had matter


def exercise(run: Run, store: Database[dict[str, Any]]) -> None:
    """Every path a credential takes, each checked to have worked."""
    admin_user = {**new_user(), "email": ADMIN_EMAIL, "password": PASSWORD + " admin"}
    user = {**new_user(), "password": f"pw-{uuid.uuid4().hex}"}
    run.sign_up(admin_user)
    run.sign_up(user)
    admin = run.keep_tokens("admin", run.login(admin_user, wait=True).json())
    waited = run.login(user, wait=True)
    pair = waited.json()
    run.keep_tokens("waited login", pair)
    accepted = run.login(user, wait=False)
    assert accepted.status_code == 202
    run.keep_tokens("login", run.finished(accepted, claim(accepted))["result"]["body"])
    refreshed = run.http.post(
        "/public/refresh", json={"refresh_token": pair["refresh_token"]}, headers=WAIT
    )
    run.keep_claim(refreshed)
    auth = run.keep_tokens("refreshed", refreshed.json())
    minted = run.http.post(
        "/admin/api-keys",
        json={"name": "leak test", "scopes": ["notifications:read"]},
        headers={**admin, **WAIT},
    )
    key = run.keep("api key", minted.json()["api_key"])
    used = run.http.get("/notifications", headers={"X-API-Key": key, **WAIT})
    assert used.status_code not in (401, 403), used.text  # the key authenticates
    assert run.http.get("/wallet/balance", headers=auth).json()["balance"] == 100
    webhook_secrets(run, auth)
    dead_letter_and_replay(run, store, user, admin)


def webhook_secrets(run: Run, auth: dict[str, str]) -> None:
    """An endpoint's secret and its rotated successor sign a delivery (verified by the
    receiver) and rest nowhere in the clear: not whole, not its key bytes' base64."""
    with WebhookReceiver() as receiver:
        endpoint = run.http.post(
            "/webhooks/endpoints",
            json={"url": receiver.url, "events": ["wallet_credited"]},
            headers={**auth, **WAIT},
        ).json()
        rotated = run.http.post(
            f"/webhooks/endpoints/{endpoint['endpoint_id']}/rotate-secret",
            json={},
            headers={**auth, **WAIT},
        ).json()
        receiver.secrets = [endpoint["secret"], rotated["secret"]]
        for secret in receiver.secrets:
            run.keep("webhook secret", secret)
            run.keep("webhook secret key", secret.removeprefix("whsec_"))
        deposited = run.http.post("/wallet/deposit", json={"amount": 1}, headers={**auth, **WAIT})
        assert deposited.status_code == 200, deposited.text
        deadline = time.monotonic() + DONE_S
        while not receiver.requests and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.requests and receiver.requests[0].verified_by == receiver.secrets


def dead_letter_and_replay(
    run: Run, store: Database[dict[str, Any]], user: dict[str, str], admin: dict[str, str]
) -> None:
    """A login that dies (its user record is corrupt), shown to an admin, replayed once fixed."""
    record = store[USERS].find_one({"email": user["email"]})
    assert record is not None
    store[USERS].update_one({"_id": record["_id"]}, {"$set": {"password_hash": 12345}})
    doomed = run.login(user, wait=False)
    headers = claim(doomed)
    assert run.finished(doomed, headers)["status"] == "dead"
    command_id = doomed.headers["Location"].rsplit("/", 1)[1]
    letter_id = f"command:{command_id}"
    listed = run.http.get("/admin/dead-letters", headers=admin)
    shown = run.http.get(f"/admin/dead-letters/{letter_id}", headers=admin)
    assert listed.status_code == shown.status_code == 200
    assert shown.json()["envelope"]["sealed"]["key_id"]
    assert user["password"] not in listed.text + shown.text
    store[USERS].update_one(
        {"_id": record["_id"]}, {"$set": {"password_hash": record["password_hash"]}}
    )
    replay = run.http.post(f"/admin/dead-letters/{letter_id}/replay", headers=admin)
    assert replay.status_code in (200, 202), replay.text
    deadline = time.monotonic() + DONE_S
    while (document := run.http.get(doomed.headers["Location"], headers=headers).json())[
        "status"
    ] != "succeeded":
        assert time.monotonic() < deadline, document
        time.sleep(0.1)
    run.keep_tokens("replayed login", document["result"]["body"])


def wait_for_flower_tasks(flower_url: str, minimum: int) -> None:
    """Until Flower has seen at least ``minimum`` tasks (its events lag the work a little)."""
    deadline = time.monotonic() + DONE_S
    while True:
        tasks = httpx.get(f"{flower_url}/api/tasks", timeout=5).json()
        if len(tasks) >= minimum:
            return
        assert time.monotonic() < deadline, f"Flower saw {len(tasks)} tasks"
        time.sleep(0.2)
