"""Attacks on tokens (RFC 8725): each forged or misused token is a 401 and moves no credit.

Forged tokens start from a real user's access token with an open session and
change one thing, so the only defect is the one under test; a control test shows
that the same harness with nothing changed is accepted.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from pymongo.database import Database

from core.security.tokens import REQUIRED_CLAIMS
from tests.e2e.helpers import login, new_user, register
from tests.security.conftest import Doc, assert_refused, ledger_count

pytestmark = pytest.mark.e2e
WAIT = {"Prefer": "wait=10"}


@dataclass(frozen=True)
class Victim:
    user_id: str
    tokens: dict[str, Any]

    @property
    def claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(
            self.tokens["access_token"], options={"verify_signature": False}
        )
        return claims


@pytest.fixture
def victim(client: httpx.Client) -> Victim:
    user = new_user()
    response = register(client, user)
    assert response.status_code == 201
    return Victim(response.json()["user_id"], login(client, user))


def deposit_with(client: httpx.Client, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **WAIT}
    return client.post("/wallet/deposit", json={"amount": 5}, headers=headers)


def refused(client: httpx.Client, store: Database[Doc], victim: Victim, token: str) -> str:
    """Assert the token is refused with 401 and nothing was written; the problem's detail."""
    response = deposit_with(client, token)
    assert_refused(response, 401)
    assert ledger_count(store, victim.user_id) == 1  # the welcome credits only
    detail: str = response.json()["detail"]
    return detail


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_harness_with_nothing_changed_is_accepted(
    client: httpx.Client, jwt_secret: str, victim: Victim
) -> None:
    """Control: the victim's claims signed again with the real secret deposit fine."""
    token = jwt.encode(victim.claims, jwt_secret, algorithm="HS256")
    response = deposit_with(client, token)
    assert (response.status_code, response.json()) == (200, {"balance": 105})


def test_alg_none_is_refused(client: httpx.Client, store: Database[Doc], victim: Victim) -> None:
    """An unsigned token (alg: none) is 401."""
    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    token = f"{header}.{b64(json.dumps(victim.claims).encode())}."
    assert "alg" in refused(client, store, victim, token)


def test_hs512_is_refused_while_hs256_is_pinned(
    client: httpx.Client, store: Database[Doc], jwt_secret: str, victim: Victim
) -> None:
    """A token signed with the right secret but HS512 is 401: the algorithm is pinned."""
    token = jwt.encode(victim.claims, jwt_secret, algorithm="HS512")
    assert "alg" in refused(client, store, victim, token)


def test_a_flipped_signature_bit_is_refused(
    client: httpx.Client, store: Database[Doc], victim: Victim
) -> None:
    """The real token with one bit of its signature flipped is 401."""
    head, body, signature = victim.tokens["access_token"].split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[0] ^= 0x01
    assert "Signature" in refused(client, store, victim, f"{head}.{body}.{b64(bytes(raw))}")


def test_a_wrong_secret_is_refused(
    client: httpx.Client, store: Database[Doc], victim: Victim
) -> None:
    """The victim's claims signed with another 32-byte secret are 401."""
    token = jwt.encode(victim.claims, "not-the-secret-" * 4, algorithm="HS256")
    assert "Signature" in refused(client, store, victim, token)


def test_an_expired_token_is_refused(
    client: httpx.Client, store: Database[Doc], jwt_secret: str, victim: Victim
) -> None:
    """A token whose exp has passed is 401."""
    now = int(time.time())
    claims = {**victim.claims, "iat": now - 120, "nbf": now - 120, "exp": now - 60}
    token = jwt.encode(claims, jwt_secret, algorithm="HS256")
    assert "expired" in refused(client, store, victim, token)


def test_a_future_nbf_is_refused(
    client: httpx.Client, store: Database[Doc], jwt_secret: str, victim: Victim
) -> None:
    """A token not valid before an hour from now is 401."""
    token = jwt.encode(
        {**victim.claims, "nbf": int(time.time()) + 3600}, jwt_secret, algorithm="HS256"
    )
    assert "nbf" in refused(client, store, victim, token)


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_each_required_claim_missing_is_refused(
    client: httpx.Client, store: Database[Doc], jwt_secret: str, victim: Victim, claim: str
) -> None:
    """Without any one of exp, iat, sub, iss, aud, jti, typ or fam the token is 401."""
    claims = {k: v for k, v in victim.claims.items() if k != claim}
    token = jwt.encode(claims, jwt_secret, algorithm="HS256")
    assert claim in refused(client, store, victim, token)


@pytest.mark.parametrize(
    "case",
    [("aud", "another-api", "audience"), ("iss", "someone-else", "issuer")],
    ids=["aud", "iss"],
)
def test_a_wrong_audience_or_issuer_is_refused(
    client: httpx.Client,
    store: Database[Doc],
    jwt_secret: str,
    victim: Victim,
    case: tuple[str, str, str],
) -> None:
    """A token for another audience, or from another issuer, is 401."""
    claim, value, named = case
    token = jwt.encode({**victim.claims, claim: value}, jwt_secret, algorithm="HS256")
    assert named in refused(client, store, victim, token).lower()


def test_a_refresh_token_is_not_an_access_token(
    client: httpx.Client, store: Database[Doc], victim: Victim
) -> None:
    """The refresh token as a bearer token is 401."""
    detail = refused(client, store, victim, victim.tokens["refresh_token"])
    assert "refresh token cannot be used as a access token" in detail


def test_an_access_token_is_not_a_refresh_token(client: httpx.Client, victim: Victim) -> None:
    """Refreshing with the access token is 401, and the session's refresh token still works."""
    response = refresh(client, victim.tokens["access_token"])
    assert response.status_code == 401
    assert "access token cannot be used as a refresh token" in response.json()["detail"]
    assert refresh(client, victim.tokens["refresh_token"]).status_code == 200


def refresh(client: httpx.Client, token: str) -> httpx.Response:
    return client.post("/public/refresh", json={"refresh_token": token}, headers=WAIT)


def test_refresh_rotates_and_the_new_tokens_work(client: httpx.Client, victim: Victim) -> None:
    """A refresh answers a new pair; the new access token is accepted."""
    response = refresh(client, victim.tokens["refresh_token"])
    assert response.status_code == 200, response.text
    fresh = response.json()
    assert fresh["refresh_token"] != victim.tokens["refresh_token"]
    me = client.get("/userauth/me", headers={"Authorization": f"Bearer {fresh['access_token']}"})
    assert (me.status_code, me.json()["user_id"]) == (200, victim.user_id)


def test_reusing_a_rotated_refresh_token_ends_the_whole_family(
    client: httpx.Client, store: Database[Doc], victim: Victim
) -> None:
    """A spent refresh token used again is 401, and then its successor and access tokens fail."""
    successor = refresh(client, victim.tokens["refresh_token"]).json()
    reuse = refresh(client, victim.tokens["refresh_token"])
    assert reuse.status_code == 401
    assert "already used" in reuse.json()["detail"]
    assert refresh(client, successor["refresh_token"]).status_code == 401
    for access in (successor["access_token"], victim.tokens["access_token"]):
        assert "ended" in refused(client, store, victim, access)


def test_logout_revokes_access_and_refresh_tokens(
    client: httpx.Client, store: Database[Doc], victim: Victim
) -> None:
    """After logout the access token is 401 at once and the refresh token is refused."""
    auth = {"Authorization": f"Bearer {victim.tokens['access_token']}", **WAIT}
    response = client.post("/userauth/logout", headers=auth)
    assert (response.status_code, response.json()) == (200, {"sessions_ended": 1})
    assert "ended" in refused(client, store, victim, victim.tokens["access_token"])
    assert refresh(client, victim.tokens["refresh_token"]).status_code == 401
