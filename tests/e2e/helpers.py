"""Small client-side steps the end-to-end tests share."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx

PASSWORD = "correct horse battery"
# A command in one of these is finished (``events.TERMINAL``, spelled as on the wire).
TERMINAL = frozenset({"succeeded", "failed", "dead", "refused", "cancelled", "expired"})


def new_user() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {"email": f"ada-{tag}@example.com", "username": f"ada_{tag}", "password": PASSWORD}


def register(client: httpx.Client, user: dict[str, str]) -> httpx.Response:
    return client.post("/public/register", json=user, headers={"Prefer": "wait=10"})


def login(client: httpx.Client, user: dict[str, str]) -> dict[str, Any]:
    response = client.post(
        "/public/login",
        json={"email": user["email"], "password": user["password"]},
        headers={"Prefer": "wait=10"},
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def claim(response: httpx.Response) -> dict[str, str]:
    """The header that reads the anonymous command ``response`` accepted (Command-Claim)."""
    return {"Command-Claim": response.headers["Command-Claim"]}


def status_of(client: httpx.Client, response: httpx.Response) -> dict[str, Any]:
    """The document of the anonymous command ``response`` answered for, read with its claim."""
    document: dict[str, Any] = client.get(
        response.headers["Location"], headers=claim(response)
    ).json()
    return document


def poll(
    client: httpx.Client, url: str, timeout_s: float = 15, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        document: dict[str, Any] = client.get(url, headers=headers).json()
        if document["status"] in TERMINAL or time.monotonic() > deadline:
            return document
        time.sleep(0.1)


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def signed_up(client: httpx.Client) -> tuple[str, dict[str, str]]:
    """A new user registered and logged in: their id and auth header."""
    user = new_user()
    response = register(client, user)
    assert response.status_code == 201, response.text
    return response.json()["user_id"], bearer(login(client, user))
