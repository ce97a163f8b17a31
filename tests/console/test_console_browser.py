"""The console in Debian's chromium (Playwright): sign in, filter commands, a command's
hooks in order, replay a dead letter, an operator who cannot. Each page's screenshot goes
to docs/images/, shown in docs/operations.md."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import RunningStack
from tests.console.conftest import Account, bury_deposit
from tests.e2e.helpers import poll, signed_up

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

TIMEOUT_MS = 20_000


@pytest.fixture
def page_for(browser: Any, stack: RunningStack) -> Iterator[Any]:
    """``page_for(account)``: a new browser context signed in as ``account``."""
    contexts: list[Any] = []

    def open_as(account: Account) -> Any:
        context = browser.new_context(
            base_url=stack.base_url, viewport={"width": 1280, "height": 800}
        )
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        page.goto("/console/signin")
        page.fill('input[name="email"]', account.email)
        page.fill('input[name="password"]', account.password)
        page.click('button[type="submit"]')
        page.wait_for_url("**/console/")
        return page

    yield open_as
    for context in contexts:
        context.close()


def deposit(client: httpx.Client, auth: dict[str, str], amount: int) -> str:
    answer = client.post("/wallet/deposit", json={"amount": amount}, headers=auth)
    assert answer.status_code == 202, answer.text
    assert poll(client, answer.headers["Location"], headers=auth)["status"] == "succeeded"
    command_id: str = answer.json()["command_id"]
    return command_id


def test_sign_in_and_the_overview(
    page_for: Any, admin_account: Account, screenshot: Any, browser: Any, stack: RunningStack
) -> None:
    signin = browser.new_page(base_url=stack.base_url)
    signin.goto("/console/signin")
    screenshot(signin, "signin")
    signin.close()
    page = page_for(admin_account)
    assert page.locator("h1").inner_text() == "Overview"
    assert page.locator(".who").inner_text().startswith(admin_account.email)
    assert page.get_by_text("wallet", exact=True).count() >= 1
    screenshot(page, "overview")
    page.goto("/console/modules")
    assert page.locator("#hooks-table").get_by_text("notifications.notify").count() >= 1
    screenshot(page, "modules")


def test_filter_commands_then_open_one_and_see_its_hooks_in_order(
    page_for: Any, operator_account: Account, client: httpx.Client, screenshot: Any
) -> None:
    user_id, auth = signed_up(client)
    command_id = deposit(client, auth, 3)
    page = page_for(operator_account)
    page.goto("/console/commands")
    page.fill('input[name="owner"]', f"user:{user_id}")
    page.select_option('select[name="status"]', "succeeded")
    page.fill('input[name="name"]', "wallet.deposit")
    page.click("form.filters button")
    page.wait_for_url("**owner=user*")
    rows = page.locator("#commands tbody tr")
    assert rows.count() == 1
    assert "wallet.deposit" in rows.first.inner_text()
    screenshot(page, "commands")
    rows.first.locator("a").click()
    page.wait_for_url(f"**/console/commands/{command_id}")
    hooks = page.locator("#hooks .hook-name")
    hooks.nth(1).wait_for()
    assert hooks.all_inner_texts() == ["notifications.notify", "audit.record", "webhooks.fan_out"]
    timeline = page.locator("#timeline .status").all_inner_texts()
    assert timeline == ["accepted", "running", "succeeded"]
    screenshot(page, "command")


def test_an_admin_replays_a_dead_letter_and_it_succeeds(
    page_for: Any, admin_account: Account, stack: RunningStack, screenshot: Any
) -> None:
    letter, command_id = bury_deposit(stack)
    page = page_for(admin_account)
    page.goto("/console/dead-letters?status=dead")
    screenshot(page, "dead-letters")
    page.check(f'input[name="letter"][value="{letter}"]')
    page.click("#replay")
    page.wait_for_url("**/console/dead-letters?notice=*")
    assert "1 replayed" in page.locator("#notice").inner_text()
    page.goto(f"/console/commands/{command_id}")
    status = page.locator("#status")
    status.filter(has_text="succeeded").wait_for()  # the page follows it live
    assert page.locator("#hooks .hook-name").first.inner_text() == "notifications.notify"


def test_an_operator_has_no_replay_button(
    page_for: Any, operator_account: Account, stack: RunningStack
) -> None:
    letter, _ = bury_deposit(stack)
    page = page_for(operator_account)
    page.goto("/console/dead-letters?status=dead")
    assert page.get_by_text(letter).count() == 1
    assert page.locator("#replay").count() == 0
    assert page.locator(f'input[name="letter"][value="{letter}"]').count() == 0
    answer = page.request.post(
        "/console/dead-letters/replay",
        form={"letter": letter, "csrf": page.locator('input[name="csrf"]').first.input_value()},
    )
    assert answer.status == 403
