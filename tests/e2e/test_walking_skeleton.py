"""One HTTP command travels gateway → broker → orchestrator → module → hooks → result.

Real uvicorn, real Celery worker process, real Redis, the MongoDB-protocol server.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import bearer, claim, login, new_user, poll, register, status_of

pytestmark = pytest.mark.e2e


def test_register_and_wait_gives_201_and_a_hook_trace(pipeline_client: httpx.Client) -> None:
    """Prefer: wait=10 answers 201 with the user, and the trace shows audit ran for user_created."""
    client = pipeline_client
    user = new_user()
    response = register(client, user)
    assert response.status_code == 201, response.text
    assert response.headers["Preference-Applied"] == "wait=10"
    body = response.json()
    assert body["user_id"] and body["email"] == user["email"]
    document = status_of(client, response)
    assert document["status"] == "succeeded"
    audit = [h for h in document["hooks"] if (h["module"], h["event"]) == ("audit", "user_created")]
    assert len(audit) == 1 and audit[0]["status"] == "succeeded"
    assert audit[0]["priority"] == 100 and audit[0]["handler"] == "record"


def test_register_without_prefer_is_accepted_then_succeeds(client: httpx.Client) -> None:
    """Without Prefer the gateway answers 202 with Location; polling reaches succeeded."""
    response = client.post("/public/register", json=new_user())
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "accepted"
    assert response.headers["Location"] == body["status_url"] == f"/commands/{body['command_id']}"
    document = poll(client, body["status_url"], headers=claim(response))
    assert document["status"] == "succeeded"
    assert document["result"]["status_code"] == 201
    assert document["attempts"] == 1


def test_login_then_me(client: httpx.Client) -> None:
    """Login returns tokens; /userauth/me with the access token is that user; without it 401."""
    user = new_user()
    user_id = register(client, user).json()["user_id"]
    tokens = login(client, user)
    assert tokens["token_type"] == "Bearer" and tokens["refresh_token"]
    me = client.get("/userauth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.status_code == 200
    assert me.json()["user_id"] == user_id and me.json()["username"] == user["username"]
    anonymous = client.get("/userauth/me")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"


def test_me_is_rebuilt_by_a_worker_when_the_read_model_is_gone(
    client: httpx.Client, redis_client: Any
) -> None:
    """With its read model deleted, /userauth/me asks a worker, which rebuilds it from MongoDB."""
    user = new_user()
    user_id = register(client, user).json()["user_id"]
    access = login(client, user)["access_token"]
    assert redis_client.delete(f"hookline:rm:user_management:profile:{user_id}") == 1
    me = client.get("/userauth/me", headers={"Authorization": f"Bearer {access}"})
    assert me.status_code == 200 and me.json()["user_id"] == user_id
    assert redis_client.exists(f"hookline:rm:user_management:profile:{user_id}") == 1


def test_wrong_password_is_401_problem(client: httpx.Client) -> None:
    """Bad credentials come back as a 401 problem from the worker."""
    user = new_user()
    register(client, user)
    response = client.post(
        "/public/login",
        json={"email": user["email"], "password": "not the password"},
        headers={"Prefer": "wait=10"},
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "invalid email or password"


def test_same_email_again_is_409_problem(client: httpx.Client) -> None:
    """Registering a taken email answers 409 with a problem naming the field."""
    user = new_user()
    assert register(client, user).status_code == 201
    again = register(client, {**user, "username": user["username"] + "_2"})
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["field"] == "email"


def test_body_without_email_is_422_naming_email(client: httpx.Client) -> None:
    """A body without email answers 422 naming the field, and no command is created."""
    user = new_user()
    del user["email"]
    response = client.post("/public/register", json=user)
    assert response.status_code == 422
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == ["email"]
    assert "email" in problem["detail"]
    assert "Location" not in response.headers


def test_command_document_is_visible_to_its_owner_only(
    client: httpx.Client, redis_client: Any
) -> None:
    """A user's command is readable by that user; another user and anonymous callers get 404."""
    owner, other = new_user(), new_user()
    owner_id = register(client, owner).json()["user_id"]
    register(client, other)
    owner_auth = {"Authorization": f"Bearer {login(client, owner)['access_token']}"}
    other_auth = {"Authorization": f"Bearer {login(client, other)['access_token']}"}
    redis_client.delete(f"hookline:rm:user_management:profile:{owner_id}")
    status_url = client.get("/userauth/me", headers=owner_auth).headers["Location"]
    assert client.get(status_url, headers=owner_auth).status_code == 200
    assert client.get(status_url, headers=other_auth).status_code == 404
    assert client.get(status_url).status_code == 404
    assert client.get("/commands/" + uuid.uuid4().hex, headers=owner_auth).status_code == 404


def test_health_and_module_status(client: httpx.Client, admin: dict[str, str]) -> None:
    """/health is 200 naming each check; /modules/status gives load order and module states."""
    health = client.get("/health")
    assert health.status_code == 200
    checks = health.json()["checks"]
    assert (checks["redis"], checks["broker"], checks["mongo"]) == ("ok", "ok", "ok")
    assert checks["workers"] >= 1
    status = client.get("/modules/status", headers=admin).json()
    assert status["load_order"].index("audit") >= 0
    assert {m["name"]: m["state"] for m in status["modules"]}["user_management"] == "loaded"
    module = client.get("/modules/user_management/health", headers=admin)
    assert module.json()["status"] == "healthy"
    assert client.get("/modules/nope/health", headers=admin).status_code == 404


def test_hooks_table_is_for_admins(client: httpx.Client, admin: dict[str, str]) -> None:
    """GET /hooks lists each event's hooks in dispatch order to an admin; a user gets 403."""
    table = client.get("/hooks", headers=admin).json()
    assert [(h["module"], h["priority"]) for h in table["user_created"]] == [
        ("wallet", 10),
        ("notifications", 50),
        ("audit", 100),
        ("webhooks", 900),
    ]
    user = new_user()
    register(client, user)
    assert client.get("/hooks", headers=bearer(login(client, user))).status_code == 403
