"""Module declarations are checked when made, and against their orchestrator at start-up."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from pydantic import BaseModel

from events import Credential, EventSpec, RegistrationError
from modules import BaseModule, Hook, Job, LoadResult, ModuleState, Route, RouteMode, load_all
from workers.bootstrap import Blueprint


class Body(BaseModel):
    x: int


class WithPassword(BaseModel):
    password: Credential


class Moved(BaseModel):
    from_id: str
    to_id: str
    x: int


def test_bad_route_declarations_fail_at_import() -> None:
    """A route with an unknown method or a relative path is refused, as is a read model on
    a command route or on a query with path parameters (a view is one per caller)."""
    with pytest.raises(RegistrationError, match="unknown method 'FETCH'"):
        Route("FETCH", "/x", "handler")
    with pytest.raises(RegistrationError, match="must start with '/'"):
        Route("GET", "x", "handler")
    with pytest.raises(RegistrationError, match="only a query route has a read_model"):
        Route("POST", "/x", "handler", read_model="view")
    with pytest.raises(RegistrationError, match="a query with path parameters has none"):
        Route("GET", "/x/{x_id}", "handler", mode=RouteMode.QUERY, read_model="view")
    # A query with no read model is answered by its query command each time.
    Route("GET", "/x/{x_id}", "handler", mode=RouteMode.QUERY)


def test_a_job_is_checked_when_declared() -> None:
    """A job names a lower_snake_case handler and a model payload that carries no credential."""
    with pytest.raises(RegistrationError, match="must be a pydantic model class"):
        Job("deliver", "deliver", dict)  # type: ignore[arg-type]
    with pytest.raises(RegistrationError, match="unsealed"):
        Job("deliver", "deliver", WithPassword)
    with pytest.raises(RegistrationError, match="lower_snake_case"):
        Job("deliver", "Deliver", Body)


def test_an_event_subject_must_be_a_text_field_of_its_payload() -> None:
    """``subjects`` names the payload fields holding the users an event is about."""
    with pytest.raises(RegistrationError, match="subject 'x' is not a text field"):
        EventSpec("body_changed", Body, subjects=("x",))
    with pytest.raises(RegistrationError, match="subject 'nope' is not a text field"):
        EventSpec("body_changed", Body, subjects=("nope",))
    spec = EventSpec("moved", Moved, subjects=("from_id", "to_id"))
    assert spec.subjects_of({"from_id": "a", "to_id": "b", "x": 1}) == {"a", "b"}


def test_duplicate_route_in_one_module_is_refused() -> None:
    """A module declaring the same route twice is refused when its class is defined."""
    with pytest.raises(RegistrationError, match="declares route 'POST /x' twice"):

        class Twice(BaseModule):
            name = "twice"
            routes = (
                Route("POST", "/x", "a", request=Body),
                Route("POST", "/x", "b", request=Body),
            )


def test_hook_for_unknown_event_stops_startup() -> None:
    """The blueprint check refuses a hook whose event no module declares, naming both."""

    class Listener(BaseModule):
        name = "listener"
        hooks = (Hook("nobody_emits_this", "on_it"),)

    with pytest.raises(RegistrationError, match="handler 'on_it'"):
        Blueprint.from_classes({"listener": Listener})


def test_hook_handler_missing_on_orchestrator_stops_startup() -> None:
    """A hook naming a handler its orchestrator lacks is refused before any worker runs."""

    class Emitter(BaseModule):
        name = "emitter"
        events = (EventSpec("ping", Body),)
        hooks = (Hook("ping", "on_ping"),)

    with pytest.raises(RegistrationError, match=r"'emitter'.*'on_ping'"):
        Blueprint.from_classes({"emitter": Emitter})


def test_reference_modules_pass_the_blueprint_check() -> None:
    """The shipped modules declare only events and handlers that exist."""
    from modules import discover

    blueprint = Blueprint.from_classes(discover())
    assert "user_created" in blueprint.catalogue
    assert set(blueprint.order) >= {"audit", "user_management"}


def make_module(name: str, deps: tuple[str, ...] = ()) -> type[BaseModule]:
    return type(name.title(), (BaseModule,), {"name": name, "dependencies": deps})


def start_all(classes: Mapping[str, type[BaseModule]], failing: str) -> LoadResult[str]:
    def start(cls: type[BaseModule]) -> str:
        if cls.name == failing:
            raise RuntimeError("store unreachable")
        return cls.name

    return load_all(classes, start)


def test_failed_module_skips_its_dependents_only() -> None:
    """A module that fails to start is reported failed, its dependents skipped, the rest run."""
    classes = {
        "users": make_module("users"),
        "wallet": make_module("wallet", ("users",)),
        "transfers": make_module("transfers", ("wallet",)),
        "audit": make_module("audit"),
    }
    result = start_all(classes, failing="wallet")
    states = {name: report.state for name, report in result.reports.items()}
    assert states == {
        "users": ModuleState.LOADED,
        "audit": ModuleState.LOADED,
        "wallet": ModuleState.FAILED,
        "transfers": ModuleState.SKIPPED,
    }
    assert "store unreachable" in result.reports["wallet"].reason
    assert "'wallet'" in result.reports["transfers"].reason
    assert set(result.loaded) == {"users", "audit"}
