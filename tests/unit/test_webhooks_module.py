"""The webhooks module's pure decisions: who may hear what, the schedule, its settings."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from events import ConfigurationError, EventSpec, Forbidden, InvalidInput, Sealed
from modules.webhooks import WebhooksModule
from modules.webhooks.models import Endpoint


class About(BaseModel):
    user_id: str


class Anything(BaseModel):
    key_id: str


CATALOGUE = {
    "wallet_credited": EventSpec("wallet_credited", About, subjects=("user_id",)),
    "api_key_created": EventSpec("api_key_created", Anything),
}


def endpoint(**changes: object) -> Endpoint:
    fields: dict[str, object] = {
        "id": "ep_" + "0" * 32,
        "owner_id": "ada",
        "url": "https://hooks.example.com/in",
        "events": ("wallet_credited",),
        "secret": Sealed(key_id="k", data="x"),
        "created_ms": 0,
        "updated_ms": 0,
    }
    return Endpoint.model_validate({**fields, **changes})


def test_users_subscribe_to_events_about_users_admins_to_any() -> None:
    module = WebhooksModule()
    assert module.check_events(("wallet_credited", "*"), CATALOGUE, False) == (
        "wallet_credited",
        "*",
    )
    with pytest.raises(Forbidden, match="only admins"):
        module.check_events(("api_key_created",), CATALOGUE, False)
    assert module.check_events(("api_key_created",), CATALOGUE, True) == ("api_key_created",)
    with pytest.raises(InvalidInput, match="unknown event 'nope'"):
        module.check_events(("nope",), CATALOGUE, True)


def test_an_endpoint_hears_its_events_about_its_owner_unless_it_may_hear_anyone() -> None:
    module = WebhooksModule()
    mine = endpoint()
    assert module.hears(mine, "wallet_credited", frozenset({"ada"}), False)
    assert not module.hears(mine, "wallet_credited", frozenset({"bob"}), False)
    assert not module.hears(mine, "wallet_debited", frozenset({"ada"}), False)
    assert module.hears(endpoint(events=("*",)), "wallet_debited", frozenset({"ada"}), False)
    assert not module.hears(endpoint(enabled=False), "wallet_credited", frozenset({"ada"}), False)
    wide = endpoint(any_user=True)
    assert module.hears(wide, "wallet_credited", frozenset(), True)
    # Its owner lost webhooks:manage_any: it hears only events about them.
    assert not module.hears(wide, "wallet_credited", frozenset({"bob"}), False)
    assert module.hears(wide, "wallet_credited", frozenset({"ada"}), False)


def test_the_schedule_gives_the_delay_before_each_try_and_then_none() -> None:
    module = WebhooksModule()
    module.initialize({"retry_schedule_s": "0, 5, 300"})
    assert [module.next_try(n) for n in range(4)] == [0.0, 5.0, 300.0, None]
    assert module.settings.tries == 3


def test_the_default_settings_are_the_documented_ones() -> None:
    settings = WebhooksModule().settings
    assert settings.retry_schedule_s == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    assert (settings.timeout_s, settings.disable_after_s) == (15, 5 * 86400)
    assert (settings.endpoint_concurrency, settings.endpoint_rate_limit) == (4, "50/second")


@pytest.mark.parametrize(
    ("name", "value"),
    [("retry_schedule_s", "5,-1"), ("timeout_s", "0"), ("endpoint_concurrency", "many")],
)
def test_a_wrong_setting_stops_the_module_naming_it(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        WebhooksModule().initialize({name: value})


def test_an_endpoint_is_disabled_once_it_has_failed_for_the_whole_setting() -> None:
    module = WebhooksModule()
    module.initialize({"disable_after_s": "10"})
    assert module.should_disable(1_000, 11_000)
    assert not module.should_disable(1_000, 10_999)
