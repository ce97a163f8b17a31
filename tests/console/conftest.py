"""Console fixtures: operator and admin accounts on the session stack, a signed-in httpx
client, a dead letter to replay, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from core.settings import Settings
from core.stores import MongoDocument
from events import Actor, Command, DeadLetter, DeadLetterKind, FailureKind, utc_now
from hookline.role_commands import AdminAction, change_admin_role
from tests.conftest import RunningStack
from tests.e2e.helpers import new_user, register, signed_up
from workers.dead_letters import DeadLetterStore

CHROMIUM = Path("/usr/bin/chromium")
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "images"
INSTALL_TIMEOUT_S = 900


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    user_id: str


def grant(stack: RunningStack, client: httpx.Client, role: str) -> Account:
    """A new user granted ``role`` as ``hookline admin grant`` does it."""
    user = new_user()
    registered = register(client, user)
    assert registered.status_code == 201, registered.text
    user_id = change_admin_role(settings_of(stack), user["email"], AdminAction.GRANT, role)
    return Account(user["email"], user["password"], user_id)


def settings_of(stack: RunningStack) -> Settings:
    """Settings naming the stack's stores, as ``hookline admin`` run there would read them."""
    return Settings.model_validate(
        {
            "REDIS_URL": stack.env["REDIS_URL"],
            "MONGO_URL": stack.env["MONGO_URL"],
            "mongo_db": stack.env["HOOKLINE_MONGO_DB"],
        }
    )


@pytest.fixture(scope="session")
def operator_account(stack: RunningStack) -> Account:
    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        return grant(stack, client, "operator")


@pytest.fixture(scope="session")
def admin_account(stack: RunningStack) -> Account:
    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        return grant(stack, client, "admin")


CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, page[:2000]
    return found.group(1)


def sign_in(client: httpx.Client, account: Account) -> httpx.Response:
    form = client.get("/console/signin")
    assert form.status_code == 200, form.text
    return client.post(
        "/console/signin",
        data={"csrf": csrf_of(form.text), "email": account.email, "password": account.password},
    )


@pytest.fixture
def console_as(stack: RunningStack) -> Iterator[Any]:
    """``console_as(account)``: an httpx client signed in to the console as ``account``."""
    clients: list[httpx.Client] = []

    def open_as(account: Account) -> httpx.Client:
        client = httpx.Client(base_url=stack.base_url, timeout=40)
        clients.append(client)
        signed = sign_in(client, account)
        assert signed.status_code == 303, signed.text
        return client

    yield open_as
    for client in clients:
        client.close()


def bury_deposit(stack: RunningStack, amount: int = 5) -> tuple[str, str]:
    """A real user's deposit, dead-lettered as a worker buries one; (letter id, command id).

    Its replay runs the deposit for real."""
    with httpx.Client(base_url=stack.base_url, timeout=40) as client:
        user_id, _ = signed_up(client)
    command = Command(
        name="wallet.deposit",
        payload={"amount": amount},
        actor=Actor(user_id=user_id, roles=("user",)),
    )
    letter = DeadLetter(
        id=DeadLetter.command_letter_id(command.id),
        kind=DeadLetterKind.COMMAND,
        name=command.name,
        command_id=command.id,
        envelope=command.model_dump(mode="json"),
        error="TypeError: the wallet's balance was corrupt",
        failure=FailureKind.POISON,
        attempts=3,
        dead_at=utc_now(),
    )
    mongo: MongoClient[MongoDocument] = MongoClient(stack.env["MONGO_URL"], tz_aware=True)
    try:
        DeadLetterStore(mongo[stack.env["HOOKLINE_MONGO_DB"]]).bury(letter)
    finally:
        mongo.close()
    return letter.id, command.id


# -- the browser ----------------------------------------------------------------------------


def chromium_or_skip() -> Path:
    """Debian's chromium, installed from Debian's packages when missing and we are root."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(
            f"{CHROMIUM} is missing and cannot be installed here (needs root and apt-get): "
            "install Debian's chromium package to run the browser tests"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for step in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        done = subprocess.run(
            step, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False
        )
        if done.returncode != 0:
            pytest.skip(f"{' '.join(step)} failed, so no chromium: {done.stderr[-500:]}")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium for the browser tests' module (Playwright's own browsers are never
    downloaded). Not for the session: Playwright's sync API keeps an event loop running in
    the main thread while it is open, and a later test's ``asyncio.run`` would refuse it."""
    path = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(path), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture
def screenshot() -> Any:
    """``screenshot(page, name)``: the page as docs/images/console-<name>.png."""
    IMAGES.mkdir(parents=True, exist_ok=True)

    def take(page: Any, name: str) -> None:
        page.screenshot(path=str(IMAGES / f"console-{name}.png"), full_page=True)

    return take
