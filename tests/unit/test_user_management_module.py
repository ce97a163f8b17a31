"""The user_management module's pure decisions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from events import ConfigurationError, Conflict, TooManyAttempts, Unauthorized, utc_now
from modules.user_management import UserManagementModule
from modules.user_management.identifiers import email_key, username_key
from modules.user_management.models import RegisterRequest
from modules.user_management.throttle import LoginThrottle


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


# -- one account per name, however it is spelled (finding 5) ---------------------------------

FULLWIDTH_ALICE = "\uff41\uff4c\uff49\uff43\uff45"  # alice in fullwidth letters
SCRIPT_L_ALICE = "a\u2113ice"  # alice with U+2113 SCRIPT SMALL L, which NFKC makes an l


@pytest.mark.parametrize("spelling", ["Alice", "ALICE", FULLWIDTH_ALICE, SCRIPT_L_ALICE])
def test_confusable_usernames_have_one_key(spelling: str) -> None:
    """Case and compatibility forms of a username normalize to the same key."""
    assert username_key(spelling) == username_key("alice") == "alice"


@pytest.mark.parametrize(
    "spelling",
    ["Alice@Example.COM", "alice@example.com.", "\uff41lice@example.com", " alice@EXAMPLE.com.. "],
)
def test_confusable_emails_have_one_key(spelling: str) -> None:
    """Case, fullwidth letters and a trailing dot on the domain normalize to one key."""
    assert email_key(spelling) == email_key("alice@example.com") == "alice@example.com"


def test_distinct_names_keep_distinct_keys() -> None:
    """Normalizing merges spellings, not different names (a dotless i is another letter)."""
    assert username_key("alice") != username_key("alice.")
    assert username_key("al\u0131ce") != username_key("alice")
    assert email_key("alice@example.com") != email_key("alice@example.co")


@pytest.mark.parametrize("spelling", [FULLWIDTH_ALICE, SCRIPT_L_ALICE])
def test_a_compatibility_spelling_registers_as_the_name_it_spells(spelling: str) -> None:
    """The username is checked (and shown) in NFKC form: it is alice, not a refused name."""
    registered = RegisterRequest(email="a@b.co", username=spelling, password="x" * 8)
    assert registered.username == "alice"


def test_a_look_alike_from_another_script_is_refused() -> None:
    """Names are ASCII after NFKC: a Cyrillic a, which NFKC keeps, is a 422, not a twin."""
    with pytest.raises(ValidationError, match="username"):
        RegisterRequest(email="a@b.co", username="\u0430lice", password="x" * 8)


def test_a_stored_user_carries_its_keys(module: UserManagementModule) -> None:
    """The display forms are kept as registered; the keys beside them are normalized."""
    user = module.new_user(
        RegisterRequest(email="Ada@Example.com.", username="Ada", password="x" * 8),
        "hash",
        "cmd",
        utc_now(),
    )
    assert (user.username, user.username_key) == ("Ada", "ada")
    assert (user.email, user.email_key) == ("ada@example.com.", "ada@example.com")


def test_taken_names_the_field_a_confusable_spelling_clashes_on(
    module: UserManagementModule,
) -> None:
    """A clash with another spelling of the email or username still names the field."""
    existing = module.new_user(request(), "hash", "cmd", utc_now())
    same_email = RegisterRequest(email="ADA@example.com.", username="other", password="x" * 8)
    same_name = RegisterRequest(email="other@example.com", username="ADA", password="x" * 8)
    assert module.taken(existing, same_email).extensions["field"] == "email"
    assert module.taken(existing, same_name).extensions["field"] == "username"


# -- failed logins per account (finding 3) ----------------------------------------------------

THROTTLE = LoginThrottle(allowed=5, window_s=900, base_delay_s=1, max_delay_s=900)


def test_the_delay_doubles_per_failure_past_the_allowance_up_to_the_cap() -> None:
    """No wait below the allowance; then 1 s, 2 s, 4 s … and never above the cap."""
    delays = [THROTTLE.delay_after(n) for n in range(1, 10)]
    assert delays == [0, 0, 0, 0, 1, 2, 4, 8, 16]
    assert THROTTLE.delay_after(THROTTLE.remembered) == 900
    assert THROTTLE.delay_after(10_000) == 900


def test_an_account_is_closed_only_after_the_allowance_and_until_the_delay_passes() -> None:
    """Four failures leave it open; the fifth closes it for 1 s after that failure."""
    four, five = [100.0, 101, 102, 103], [100.0, 101, 102, 103, 104]
    assert THROTTLE.closed_for(four, 104.1) == 0
    THROTTLE.check(four, 104.1)
    assert THROTTLE.closed_for(five, 104.5) == pytest.approx(0.5)
    assert THROTTLE.closed_for(five, 105.0) == 0
    THROTTLE.check(five, 105.0)


def test_an_attempt_while_closed_is_429_with_the_next_delay() -> None:
    """Refused, the attempt is one more failure: Retry-After is the delay that follows it."""
    five = [100.0, 101, 102, 103, 104]
    with pytest.raises(TooManyAttempts) as refused:
        THROTTLE.check(five, 104.5)
    assert refused.value.status == 429
    assert refused.value.retry_after_s == refused.value.extensions["retry_after_s"] == 2


def test_failures_older_than_the_window_do_not_count() -> None:
    """Five failures spread over more than the window never close the account."""
    spread = [0.0, 300, 600, 900, 1200]
    assert THROTTLE.closed_for(spread, 1200.5) == 0


def test_the_throttle_refuses_a_wrong_setting() -> None:
    """A setting that cannot work stops start-up, naming it."""
    with pytest.raises(ConfigurationError, match="login_lock_base_s"):
        LoginThrottle(base_delay_s=10, max_delay_s=1)
    with pytest.raises(ConfigurationError, match="login_failures_allowed"):
        LoginThrottle(allowed=0)
    with pytest.raises(ConfigurationError, match="login_failure_window_s"):
        LoginThrottle(window_s=60, max_delay_s=120)
    with pytest.raises(ConfigurationError, match="login_lock_max_s"):
        UserManagementModule().initialize(
            {"access_token_ttl_s": "60", "refresh_token_ttl_s": "600", "login_lock_max_s": "x"}
        )


def test_the_throttle_is_set_from_the_module_secrets() -> None:
    """The module's login_* secrets shape its throttle; unset ones take the defaults."""
    m = UserManagementModule()
    m.initialize(
        {
            "access_token_ttl_s": "60",
            "refresh_token_ttl_s": "600",
            "login_failures_allowed": "3",
            "login_lock_max_s": "2",
        }
    )
    assert m.throttle == LoginThrottle(allowed=3, window_s=900, base_delay_s=1, max_delay_s=2)


def test_admin_emails_match_under_the_same_key_as_registration() -> None:
    """A configured admin email is recognised in any spelling that registers as it."""
    m = UserManagementModule()
    m.initialize(
        {
            "access_token_ttl_s": "60",
            "refresh_token_ttl_s": "600",
            "admin_emails": "Ops@Example.com",
        }
    )
    assert "admin" in m.roles_for("ops@example.com.")
    assert "admin" in m.roles_for("\uff2f\uff30\uff33@example.com")  # fullwidth OPS
    assert m.roles_for("ops2@example.com") == ("user",)
