"""API keys: their shape, hashing and constant-time match; the module's scope rules."""

from __future__ import annotations

import pytest

from core.security import api_keys
from events import Forbidden, InvalidInput
from modules.api_keys import ApiKeysModule
from modules.user_management import UserManagementModule

KEY_ID = "0123456789abcdef0123456789abcdef"


def test_a_minted_key_names_its_id_and_matches_only_its_own_hash() -> None:
    """The id is readable from the key; a key with any other secret does not match."""
    key = api_keys.mint(KEY_ID)
    assert api_keys.key_id_of(key) == KEY_ID
    record = api_keys.ApiKeyRecord(key_id=KEY_ID, key_hash=api_keys.digest(key), scopes=())
    assert api_keys.matches(record, key)
    assert not api_keys.matches(record, api_keys.mint(KEY_ID))


@pytest.mark.parametrize("presented", ["", "hk_x_y", "Bearer abc", "hk_" + KEY_ID + "_short"])
def test_things_that_are_not_keys_have_no_id(presented: str) -> None:
    """Anything not shaped like a key is refused before Redis is asked."""
    assert api_keys.key_id_of(presented) is None


def test_scopes_must_be_known_and_held_by_the_granter() -> None:
    """An unknown scope is 422; a scope the granter lacks is 403."""
    known = {"wallet:read", "api_keys:manage"}
    with pytest.raises(InvalidInput, match="wallet:steal"):
        ApiKeysModule.check_scopes(("wallet:steal",), known, known)
    with pytest.raises(Forbidden, match="wallet:read"):
        ApiKeysModule.check_scopes(("wallet:read",), known, {"api_keys:manage"})
    ApiKeysModule.check_scopes(("wallet:read",), known, known)


def test_admin_emails_decide_the_admin_role() -> None:
    """Registering with a configured admin email (any case) gives the admin role."""
    module = UserManagementModule()
    module.initialize(
        {"access_token_ttl_s": "60", "refresh_token_ttl_s": "600", "admin_emails": " Root@X.io ,"}
    )
    assert module.roles_for("root@x.io") == ("user", "admin")
    assert module.roles_for("someone@x.io") == ("user",)
