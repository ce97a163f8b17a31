"""Roles and permissions (OWASP API5): admin routes refuse users; admins come from config or CLI."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import RunningStack
from tests.e2e.helpers import bearer, login, new_user, register
from tests.security.conftest import assert_refused, hookline_admin

pytestmark = pytest.mark.e2e


def test_an_admin_email_from_the_environment_registers_as_admin(
    client: httpx.Client, admin: dict[str, str]
) -> None:
    """The HOOKLINE_ADMIN_EMAILS user has the admin role and may list API keys."""
    assert "admin" in client.get("/userauth/me", headers=admin).json()["roles"]
    assert client.get("/admin/api-keys", headers=admin).status_code == 200


def test_a_user_on_an_admin_route_is_403_naming_the_permission(client: httpx.Client) -> None:
    """A plain user listing API keys is 403, and the problem names the permission."""
    user = new_user()
    register(client, user)
    response = client.get("/admin/api-keys", headers=bearer(login(client, user)))
    assert_refused(response, 403)
    assert response.json()["permission"] == "api_keys:manage"


def test_the_cli_grants_and_revokes_admin(stack: RunningStack, client: httpx.Client) -> None:
    """`hookline admin grant` makes an admin at next login; `revoke` ends their sessions too."""
    user = new_user()
    register(client, user)
    granted = hookline_admin(stack, "grant", user["email"])
    assert granted.returncode == 0, granted.stderr
    auth = bearer(login(client, user))
    assert client.get("/admin/api-keys", headers=auth).status_code == 200
    revoked = hookline_admin(stack, "revoke", user["email"])
    assert revoked.returncode == 0, revoked.stderr
    assert_refused(client.get("/admin/api-keys", headers=auth), 401)
    assert_refused(client.get("/admin/api-keys", headers=bearer(login(client, user))), 403)


def test_the_cli_refuses_an_unknown_email(stack: RunningStack) -> None:
    """Granting admin to an email nobody registered exits 1 and says so."""
    result = hookline_admin(stack, "grant", "nobody-" + new_user()["email"])
    assert result.returncode == 1
    assert "no user has the email" in result.stderr
