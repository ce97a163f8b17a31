"""Public routes are limited by the client's address, whatever token comes along (finding 2).

The attack: the route limit of login and register was keyed on the attached
token's user, so three throwaway accounts gave an address three allowances of
password guesses, and registrations passed the route's limit. Now every
attempt from one address counts against one allowance.
"""

from __future__ import annotations

import httpx
import pytest
from pymongo.database import Database

from tests.e2e.helpers import new_user, register, signed_up
from tests.security.conftest import LIMITS, Doc, LimitedGateway, assert_refused, unique_ip

pytestmark = pytest.mark.e2e

# The register route's own limit, as the user management module declares it.
REGISTER_LIMIT = 10


def throwaway_tokens(client: httpx.Client, count: int) -> list[dict[str, str]]:
    return [signed_up(client)[1] for _ in range(count)]


def test_tokens_of_throwaway_accounts_do_not_multiply_login_guesses(
    limited: LimitedGateway, client: httpx.Client, store: Database[Doc]
) -> None:
    victim = new_user()
    register(client, victim)
    guess = {"email": victim["email"], "password": "wrong password"}
    tokens = throwaway_tokens(client, 3)
    with limited.via_proxy(unique_ip()) as attacker:
        answers = [
            attacker.post("/public/login", json=guess, headers=auth).status_code
            for auth in tokens
            for _ in range(LIMITS["login"])
        ]
        refused = attacker.post("/public/login", json=guess, headers=tokens[0])
    assert answers[: LIMITS["login"]] == [202] * LIMITS["login"]
    assert set(answers[LIMITS["login"] :]) == {429}, answers
    assert_refused(refused, 429)
    assert int(refused.headers["Retry-After"]) >= 1
    # The limited gateway's broker is never consumed: no login ever ran.
    assert store["user_management_users"].count_documents({"email": victim["email"]}) == 1


def test_a_token_does_not_lift_the_register_limit(
    limited: LimitedGateway, client: httpx.Client, store: Database[Doc]
) -> None:
    # Four tokens, three registrations each: within each user's limit and in-flight cap,
    # over the route's limit together.
    tokens = throwaway_tokens(client, 4)
    attempts = [new_user() for _ in range(REGISTER_LIMIT + 2)]
    with limited.via_proxy(unique_ip()) as attacker:
        answers = [
            attacker.post("/public/register", json=user, headers=tokens[n % 4])
            for n, user in enumerate(attempts)
        ]
    assert [r.status_code for r in answers[:REGISTER_LIMIT]] == [202] * REGISTER_LIMIT
    for refused in answers[REGISTER_LIMIT:]:
        assert_refused(refused, 429)
    emails = [user["email"] for user in attempts]
    assert store["user_management_users"].count_documents({"email": {"$in": emails}}) == 0
