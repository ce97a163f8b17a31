"""The console over HTTP on the session stack: sign-in, cookie flags, CSRF, roles, bad input,
and the history a deposit leaves."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack
from tests.console.conftest import Account, bury_deposit, csrf_of, sign_in
from tests.e2e.helpers import poll, signed_up
from tests.faults.harness import wait_for
from tests.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.e2e


def live(client: httpx.Client, command_id: str, timeout_s: float = 20) -> dict[str, Any]:
    """The command page's JSON once the command is done (and its hooks ran)."""
    deadline = time.monotonic() + timeout_s
    while True:
        answer = client.get(f"/console/commands/{command_id}/live")
        if answer.status_code == 200 and answer.json()["done"]:
            view: dict[str, Any] = answer.json()
            return view
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)


def test_the_session_cookie_is_httponly_strict_and_not_secure_over_plain_http(
    stack: RunningStack, operator_account: Account
) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        signed = sign_in(client, operator_account)
    assert signed.status_code == 303, signed.text
    cookie = next(
        v for v in signed.headers.get_list("set-cookie") if v.startswith("hookline_console=")
    )
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/console" in flags
    assert "secure" not in flags  # plain HTTP; over TLS it is Secure (tests/unit)


def test_a_wrong_password_is_401_and_a_plain_user_is_403(
    stack: RunningStack, operator_account: Account
) -> None:
    wrong = Account(operator_account.email, "not the password", operator_account.user_id)
    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        refused = sign_in(client, wrong)
        assert refused.status_code == 401, refused.text
        assert "hookline_console=" not in refused.headers.get("set-cookie", "")
        user = Account(f"nobody-{time.time_ns()}@example.com", "whatever pass", "")
        assert sign_in(client, user).status_code == 401
        plain_id, _ = signed_up(client)
        assert plain_id


def test_a_plain_user_cannot_sign_in(stack: RunningStack) -> None:
    from tests.e2e.helpers import new_user, register

    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        user = new_user()
        assert register(client, user).status_code == 201
        refused = sign_in(client, Account(user["email"], user["password"], ""))
    assert refused.status_code == 403, refused.text
    assert "operators and admins" in refused.text


def test_pages_without_a_session_send_to_the_sign_in(stack: RunningStack) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        for path in ("/console/", "/console/commands", "/console/dead-letters", "/console/modules"):
            answer = client.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"] == "/console/signin"


def test_a_sign_in_without_its_csrf_token_is_403(
    stack: RunningStack, operator_account: Account
) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        client.get("/console/signin")
        answer = client.post(
            "/console/signin",
            data={"csrf": "forged", "email": operator_account.email, "password": "x"},
        )
    assert answer.status_code == 403
    assert "csrf" in answer.text


def test_a_post_without_the_session_csrf_token_is_403(
    stack: RunningStack, admin_account: Account, console_as: Any
) -> None:
    letter, _ = bury_deposit(stack)
    admin = console_as(admin_account)
    answer = admin.post("/console/dead-letters/replay", data={"letter": letter, "csrf": "nope"})
    assert answer.status_code == 403
    assert "csrf" in answer.text
    assert "dead" in admin.get("/console/dead-letters?status=dead").text  # not replayed


def test_an_operator_sees_no_replay_button_and_its_post_is_403(
    stack: RunningStack, operator_account: Account, console_as: Any
) -> None:
    letter, _ = bury_deposit(stack)
    operator = console_as(operator_account)
    page = operator.get("/console/dead-letters")
    assert page.status_code == 200
    assert letter in page.text
    assert 'id="replay"' not in page.text and 'id="purge"' not in page.text
    for action in ("replay", "purge"):
        answer = operator.post(
            f"/console/dead-letters/{action}",
            data={"letter": letter, "csrf": csrf_of(page.text), "confirm": "purge"},
        )
        assert answer.status_code == 403, action
        assert "dead_letters:manage" in answer.text


def test_an_admin_replays_and_purges_with_confirmation(
    stack: RunningStack, admin_account: Account, console_as: Any
) -> None:
    letter, command_id = bury_deposit(stack)
    admin = console_as(admin_account)
    csrf = csrf_of(admin.get("/console/dead-letters").text)
    replayed = admin.post("/console/dead-letters/replay", data={"letter": letter, "csrf": csrf})
    assert replayed.status_code == 303, replayed.text
    assert "1 replayed" in admin.get(replayed.headers["location"]).text
    assert live(admin, command_id)["summary"]["status"] == "succeeded"
    purge = {"letter": letter, "csrf": csrf}
    unconfirmed = admin.post("/console/dead-letters/purge", data=purge)
    assert unconfirmed.status_code == 422
    assert "confirm" in unconfirmed.text
    purged = admin.post("/console/dead-letters/purge", data={**purge, "confirm": "purge"})
    assert purged.status_code == 303
    assert letter not in admin.get("/console/dead-letters").text


def test_bad_filters_are_4xx_naming_the_field(operator_account: Account, console_as: Any) -> None:
    operator = console_as(operator_account)
    for query, field in (
        ("status=sideways", "status"),
        ("since=yesterday", "since"),
        ("page=0", "page"),
        ("colour=red", "colour"),
    ):
        answer = operator.get(f"/console/commands?{query}")
        assert 400 <= answer.status_code < 500, query
        assert field in answer.text, query
    assert operator.get("/console/commands/not-an-id!").status_code == 422
    assert operator.get("/console/commands/0123456789abcdef").status_code == 404
    assert operator.get("/console/dead-letters?status=sideways").status_code == 422


def test_a_deposit_is_in_the_history_with_its_hooks_in_order(
    client: httpx.Client, operator_account: Account, console_as: Any
) -> None:
    user_id, auth = signed_up(client)
    deposit = client.post("/wallet/deposit", json={"amount": 7}, headers=auth)
    assert deposit.status_code == 202
    command_id = deposit.json()["command_id"]
    assert poll(client, deposit.headers["Location"], headers=auth)["status"] == "succeeded"
    operator = console_as(operator_account)
    summary = live(operator, command_id)["summary"]
    assert summary["name"] == "wallet.deposit"
    assert summary["owner"] == f"user:{user_id}"
    assert summary["attempts"] == 1
    assert [c["status"] for c in summary["timeline"]] == ["accepted", "running", "succeeded"]
    hooks = [f"{r['run']['module']}.{r['run']['handler']}" for r in summary["hook_runs"]]
    assert hooks == ["notifications.notify", "audit.record", "webhooks.fan_out"]
    listed = operator.get(
        "/console/commands", params={"name": "wallet.deposit", "owner": f"user:{user_id}"}
    )
    assert command_id in listed.text
    assert (
        command_id
        not in operator.get(
            "/console/commands", params={"owner": f"user:{user_id}", "status": "failed"}
        ).text
    )


def test_the_overview_and_modules_pages_render(operator_account: Account, console_as: Any) -> None:
    operator = console_as(operator_account)
    overview = operator.get("/console/")
    assert overview.status_code == 200
    assert "wallet" in overview.text and "Dead letters" in overview.text
    assert overview.headers["cache-control"] == "no-store"
    modules = operator.get("/console/modules")
    assert modules.status_code == 200
    assert "notifications.notify" in modules.text
    assert "/wallet/deposit" in modules.text


def test_sign_out_ends_the_session(
    stack: RunningStack, operator_account: Account, console_as: Any
) -> None:
    operator = console_as(operator_account)
    csrf = csrf_of(operator.get("/console/").text)
    out = operator.post("/console/signout", data={"csrf": csrf})
    assert out.status_code == 303
    assert operator.get("/console/").status_code == 303


def test_a_role_revoked_with_the_cli_takes_effect_at_the_next_page(
    stack: RunningStack, console_as: Any
) -> None:
    from hookline.role_commands import AdminAction, change_admin_role
    from tests.console.conftest import grant, settings_of

    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        account = grant(stack, client, "admin")
    admin = console_as(account)
    assert 'id="select-all"' in admin.get("/console/dead-letters").text
    change_admin_role(settings_of(stack), account.email, AdminAction.REVOKE, "admin")
    assert admin.get("/console/dead-letters").status_code == 303  # signed out: no console role


def test_a_scheduled_command_cancelled_before_it_started_is_in_the_history(
    client: httpx.Client, operator_account: Account, console_as: Any
) -> None:
    """The gateway's two writes: the scheduling and the cancel."""
    _, auth = signed_up(client)
    scheduled = client.post(
        "/wallet/deposit",
        json={"amount": 2},
        headers={**auth, "Command-Not-Before": "3600"},
    )
    assert scheduled.status_code == 202, scheduled.text
    command_id = scheduled.json()["command_id"]
    cancelled = client.post(f"/commands/{command_id}/cancel", headers=auth)
    assert cancelled.status_code == 200, cancelled.text
    operator = console_as(operator_account)
    summary = live(operator, command_id)["summary"]
    assert summary["status"] == "cancelled"
    assert [c["status"] for c in summary["timeline"]] == ["scheduled", "cancelled"]
    assert summary["name"] == "wallet.deposit" and summary["finished_at"] is not None


def test_a_command_page_lists_the_webhook_deliveries_its_events_caused(
    client: httpx.Client, operator_account: Account, console_as: Any
) -> None:
    """Each try of a delivery is on the command's page, apart from its hook runs."""
    _, auth = signed_up(client)
    with WebhookReceiver() as receiver:
        endpoint = client.post(
            "/webhooks/endpoints",
            json={"url": receiver.url, "events": ["wallet_credited"]},
            headers={**auth, "Prefer": "wait=10"},
        ).json()
        receiver.secrets = [endpoint["secret"]]
        receiver.fail_first(1)
        deposit = client.post(
            "/wallet/deposit", json={"amount": 4}, headers={**auth, "Prefer": "wait=10"}
        )
        command_id = deposit.headers["Location"].rsplit("/", 1)[-1]
        wait_for(lambda: len(receiver.requests) == 2, 15, "a failed try and a successful one")
    operator = console_as(operator_account)
    view = wait_for(
        lambda: (found := live(operator, command_id)) and len(found["deliveries"]) == 2 and found,
        10,
        "both tries in the history",
    )
    assert [r["run"]["status"] for r in view["deliveries"]] == ["failed", "succeeded"]
    webhook_id = receiver.requests[0].webhook_id
    assert {r["run"]["target"] for r in view["deliveries"]} == {
        f"{endpoint['endpoint_id']}/{webhook_id}"
    }
    assert all(r["run"]["target"] is None for r in view["hooks"])
    page = operator.get(f"/console/commands/{command_id}").text
    assert webhook_id in page and "HTTP 500" in page
