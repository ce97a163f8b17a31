"""Secret results are handed over once, and a command id alone is never a credential.

The attack this replays: someone who can read the gateway's log (or Flower) sees
every login's command id. Before claims, ``GET /commands/{id}`` with no
credentials answered that login's tokens for days.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, cast

import httpx
import pytest
import redis

from core import keys
from tests.e2e.helpers import PASSWORD, bearer, claim, new_user, register
from tests.e2e.test_live_status import read_stream
from tests.security.test_api_keys import mint

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=10"}
TOKENS = ("access_token", "refresh_token")


def credentials(user: dict[str, str]) -> dict[str, str]:
    return {"email": user["email"], "password": user["password"]}


def registered(client: httpx.Client) -> dict[str, str]:
    user = new_user()
    assert register(client, user).status_code == 201
    return user


def until_done(client: httpx.Client, url: str, headers: dict[str, str]) -> httpx.Response:
    """The first read that finds the command finished (reads before it find it running)."""
    deadline = time.monotonic() + 15
    while True:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, response.text
        if response.json()["status"] == "succeeded" or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def body_of(response: httpx.Response) -> dict[str, Any]:
    found: dict[str, Any] = response.json()["result"]["body"]
    return found


def test_a_login_is_404_by_id_alone_and_its_tokens_go_once_to_the_claim(
    client: httpx.Client, redis_client: redis.Redis
) -> None:
    """202 with a claim; by id: 404; the first finished read has the tokens, later ones not."""
    user = registered(client)
    accepted = client.post("/public/login", json=credentials(user))
    assert accepted.status_code == 202
    assert accepted.headers["Cache-Control"] == "no-store"
    location = accepted.headers["Location"]
    assert client.get(location).status_code == 404  # the id from a log line is worth nothing
    assert client.get(location, headers={"Command-Claim": "forged"}).status_code == 404
    first = until_done(client, location, claim(accepted))
    assert first.headers["Cache-Control"] == "no-store"
    tokens = body_of(first)
    assert all(tokens[name] for name in TOKENS) and first.json()["result_redacted"] is False
    assert client.get("/userauth/me", headers=bearer(tokens)).status_code == 200
    again = client.get(location, headers=claim(accepted))
    assert again.json()["result_redacted"] is True
    assert set(body_of(again)) == {"token_type", "expires_in"}
    command_id = location.rsplit("/", 1)[1]
    assert redis_client.exists(keys.command_secret(command_id)) == 0
    stored = cast(dict[str, str], redis_client.hgetall(keys.command(command_id)))
    assert not any(tokens["access_token"] in v for v in stored.values())


def test_a_waited_login_answers_the_tokens_and_keeps_none(client: httpx.Client) -> None:
    """Prefer: wait hands the tokens to the waiting request; the claim then reads them redacted."""
    user = registered(client)
    response = client.post("/public/login", json=credentials(user), headers=WAIT)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert all(response.json()[name] for name in TOKENS)
    document = client.get(response.headers["Location"], headers=claim(response)).json()
    assert document["result_redacted"] is True and "access_token" not in document["result"]["body"]


def test_a_refresh_hands_its_new_pair_over_once(client: httpx.Client) -> None:
    user = registered(client)
    pair = client.post("/public/login", json=credentials(user), headers=WAIT).json()
    refreshed = client.post(
        "/public/refresh", json={"refresh_token": pair["refresh_token"]}, headers=WAIT
    )
    assert refreshed.status_code == 200 and refreshed.json()["refresh_token"]
    later = client.get(refreshed.headers["Location"], headers=claim(refreshed)).json()
    assert later["result_redacted"] is True and "refresh_token" not in later["result"]["body"]


def test_an_admin_reads_a_login_but_never_its_tokens(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    """commands:read_any shows the document redacted, even before its submitter read it."""
    user = registered(client)
    accepted = client.post("/public/login", json=credentials(user))
    seen = until_done(client, accepted.headers["Location"], admin)
    assert seen.json()["result_redacted"] is True
    assert not set(TOKENS) & set(body_of(seen))
    own = client.get(accepted.headers["Location"], headers=claim(accepted))
    assert all(body_of(own)[name] for name in TOKENS)  # still there for the claim holder


def test_the_stream_hands_the_tokens_over_once(client: httpx.Client) -> None:
    """The claim holder's ``done`` event carries the tokens; a second stream does not."""
    user = registered(client)
    accepted = client.post("/public/login", json=credentials(user))
    url = accepted.headers["Location"] + "/stream"
    assert client.get(url).status_code == 404
    first = [e for e in read_stream(client, url, claim(accepted)) if e.event == "done"]
    assert all(first[0].json()["result"]["body"][name] for name in TOKENS)
    second = [e for e in read_stream(client, url, claim(accepted)) if e.event == "done"]
    assert second[0].json()["result_redacted"] is True


def test_an_api_key_is_shown_to_its_minting_admin_once(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    """The waited answer holds the key; the document and an Idempotency-Key replay do not."""
    key = uuid.uuid4().hex
    headers = {**admin, **WAIT, "Idempotency-Key": key}
    body = {"name": "once", "scopes": ["wallet:read"]}
    created = client.post("/admin/api-keys", json=body, headers=headers)
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    plain = created.json()["api_key"]
    document = client.get(created.headers["Location"], headers=admin)
    assert document.json()["result_redacted"] is True and plain not in document.text
    replay = client.post("/admin/api-keys", json=body, headers=headers)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert plain not in replay.text and "api_key" not in replay.json()
    assert mint(client, admin, "wallet:read")["api_key"] != plain


def test_an_anonymous_replay_gets_a_claim_of_its_own(client: httpx.Client) -> None:
    """The same login retried with its Idempotency-Key (the first answer was lost) gets the
    tokens, and a claim of its own that reads the command."""
    user = registered(client)
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    first = client.post("/public/login", json=credentials(user), headers=headers)
    # Waiting: a retry while the first is still in flight would be 409 without it.
    retry = client.post("/public/login", json=credentials(user), headers={**headers, **WAIT})
    assert retry.headers["Location"] == first.headers["Location"]
    assert retry.headers["Command-Claim"] != first.headers["Command-Claim"]
    assert all(retry.json()[name] for name in TOKENS)
    assert client.get(retry.headers["Location"], headers=claim(retry)).status_code == 200
    wrong = {**credentials(user), "password": PASSWORD + "!"}
    refused = client.post("/public/login", json=wrong, headers=headers)
    assert refused.status_code == 422 and refused.json()["field"] == "Idempotency-Key"


def test_unread_secrets_leave_redis_within_minutes(
    client: httpx.Client, redis_client: redis.Redis
) -> None:
    """An unread login's sealed tokens expire after secret_result_ttl_s (300 s by default)."""
    user = registered(client)
    accepted = client.post("/public/login", json=credentials(user))
    command_id = accepted.headers["Location"].rsplit("/", 1)[1]
    secret_key = keys.command_secret(command_id)
    deadline = time.monotonic() + 15
    while not redis_client.exists(secret_key) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert 0 < cast(int, redis_client.ttl(secret_key)) <= 300
    assert cast(int, redis_client.ttl(keys.command(command_id))) > 300  # the document itself stays


def test_a_refused_password_is_never_echoed(client: httpx.Client) -> None:
    """A 422 names the field and the rule, never the value."""
    user = {**new_user(), "password": "zq7x!"}
    response = client.post("/public/register", json=user)
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "password"
    assert "zq7x!" not in response.text
