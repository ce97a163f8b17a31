"""``serialize_by``: checked when a route is declared; one key per caller, whatever the route."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from core import keys
from core.command_state import initial_fields
from core.serial import LINE_FIELD
from events import Actor, Command, RegistrationError, SerializeBy, serial_key
from modules import Route, RouteMode
from modules.transactions import TransactionsModule
from modules.wallet import WalletModule


class Body(BaseModel):
    x: int


def test_an_unknown_serialize_by_is_refused_naming_the_route() -> None:
    """A typo stops the declaration, naming the route, the value and what is known."""
    with pytest.raises(RegistrationError, match=r"route POST /x: serialize_by 'user'.*'actor'"):
        Route("POST", "/x", "handler", request=Body, serialize_by="user")


def test_serialize_by_needs_an_authenticated_command_route() -> None:
    """A query has no turn to take; an anonymous route would put every stranger in one line."""
    with pytest.raises(RegistrationError, match="GET /x: serialize_by applies to command"):
        Route("GET", "/x", "h", mode=RouteMode.QUERY, read_model="v", serialize_by="actor")
    with pytest.raises(RegistrationError, match="POST /x: serialize_by 'actor' needs an auth"):
        Route("POST", "/x", "h", auth=False, serialize_by="actor")


def test_a_route_without_serialize_by_has_no_line() -> None:
    """Nothing is lined up unless the route says so."""
    assert Route("POST", "/x", "h").serial_by is None
    assert Route("POST", "/x", "h", serialize_by="actor").serial_by is SerializeBy.ACTOR


def test_the_key_names_the_caller_not_the_route() -> None:
    """A user's key, an API key's key; the same for every route lined up by actor."""
    assert serial_key(SerializeBy.ACTOR, Actor(user_id="u1")) == "actor:user:u1"
    assert serial_key(SerializeBy.ACTOR, Actor(api_key_id="k1")) == "actor:key:k1"
    assert keys.serial_line("actor:user:u1") == "hookline:serial:actor:user:u1"


def test_a_users_deposit_withdraw_and_transfer_are_one_line() -> None:
    """The reference routes that move a user's credits are lined up by actor; reads are not."""
    lined = {
        (module.name, route.handler): route.serial_by
        for module in (WalletModule, TransactionsModule)
        for route in module.routes
    }
    assert lined == {
        ("wallet", "balance"): None,
        ("wallet", "deposit"): SerializeBy.ACTOR,
        ("wallet", "withdraw"): SerializeBy.ACTOR,
        ("transactions", "transfer"): SerializeBy.ACTOR,
        ("transactions", "history"): None,
    }


def test_the_key_travels_on_the_envelope_and_names_the_line_in_the_hash() -> None:
    """The envelope carries its key over the bus; the hash records the line it joins."""
    command = Command(name="wallet.deposit", serial_key="actor:user:u1")
    assert Command.model_validate_json(command.model_dump_json()).serial_key == "actor:user:u1"
    assert initial_fields(command)[LINE_FIELD] == "hookline:serial:actor:user:u1"
    assert LINE_FIELD not in initial_fields(Command(name="wallet.balance"))
