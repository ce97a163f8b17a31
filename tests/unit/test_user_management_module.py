"""The user_management module's pure decisions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from events import Conflict, Unauthorized, utc_now
from modules.user_management import UserManagementModule
from modules.user_management.models import RegisterRequest


@pytest.fixture
def module() -> UserManagementModule:
    m = UserManagementModule()
    m.initialize({"access_token_ttl_s": "60", "refresh_token_ttl_s": "600"})
    return m


def request() -> RegisterRequest:
    return RegisterRequest(email=" Ada@Example.com ", username="ada", password="long enough pw")


def test_user_id_is_derived_from_the_command(module: UserManagementModule) -> None:
    """The same command gives the same user id, so a redelivery finds its own insert."""
    a = module.new_user(request(), "hash", "cmd-1", utc_now())
    b = module.new_user(request(), "hash", "cmd-1", utc_now())
    assert a.id == b.id != module.new_user(request(), "hash", "cmd-2", utc_now()).id
    assert a.email == "ada@example.com"


def test_register_request_refuses_extra_fields() -> None:
    """A body that tries to set roles is refused, not silently ignored."""
    with pytest.raises(ValidationError, match="roles"):
        RegisterRequest.model_validate(
            {"email": "a@b.co", "username": "abc", "password": "x" * 8, "roles": ["admin"]}
        )


def test_login_refuses_unknown_user_and_wrong_password_alike(module: UserManagementModule) -> None:
    """Both failures give the same message, so the response does not reveal which."""
    user = module.new_user(request(), "hash", "cmd", utc_now())
    with pytest.raises(Unauthorized) as unknown:
        module.check_login(None, False)
    with pytest.raises(Unauthorized) as wrong:
        module.check_login(user, False)
    assert unknown.value.detail == wrong.value.detail
    assert module.check_login(user, True) is user


def test_taken_names_the_clashing_field(module: UserManagementModule) -> None:
    """A clash on email or on username says which one."""
    existing = module.new_user(request(), "hash", "cmd", utc_now())
    same_name = RegisterRequest(email="other@example.com", username="ada", password="x" * 8)
    assert module.taken(existing, request()).extensions["field"] == "email"
    assert module.taken(existing, same_name).extensions["field"] == "username"
    assert isinstance(module.taken(existing, same_name), Conflict)
