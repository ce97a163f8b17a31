"""The sensitivity marker: found on every credential, honoured by schemas and reprs, and
refused where a credential would leak (nested, in a query, in an event)."""

from __future__ import annotations

import json
from typing import Annotated

import pytest
from pydantic import BaseModel, StringConstraints

from events import (
    Credential,
    EventSpec,
    InvalidInput,
    Problem,
    RegistrationError,
    sensitive_fields,
)
from modules import Route, RouteMode
from modules.api_keys.models import CreatedKey
from modules.user_management.models import LoginRequest, RefreshRequest, RegisterRequest, TokenPair
from workers.runtime import parse_request


def test_every_reference_credential_carries_the_marker() -> None:
    """Passwords, refresh tokens in requests; tokens and key plaintext in results."""
    assert sensitive_fields(RegisterRequest) == {"password"}
    assert sensitive_fields(LoginRequest) == {"password"}
    assert sensitive_fields(RefreshRequest) == {"refresh_token"}
    assert sensitive_fields(TokenPair) == {"access_token", "refresh_token"}
    assert sensitive_fields(CreatedKey) == {"api_key"}


def test_schemas_show_password_format_and_write_only_in_requests() -> None:
    """OpenAPI readers mask them; a result's token is readable, so not writeOnly there."""
    password = LoginRequest.model_json_schema()["properties"]["password"]
    assert password["format"] == "password" and password["writeOnly"] is True
    token = TokenPair.model_json_schema(mode="serialization")["properties"]["access_token"]
    assert token["format"] == "password" and "writeOnly" not in token


def test_reprs_leave_credentials_out() -> None:
    """A model logged by mistake shows no password."""
    request = LoginRequest(email="ada@example.com", password="correct horse battery")
    assert "correct horse" not in repr(request) and "correct horse" not in str(request)


class Inner(BaseModel):
    secret: Credential


class Outer(BaseModel):
    inner: Inner


class Listed(BaseModel):
    inners: list[Inner] | None = None


class Query(BaseModel):
    password: Annotated[Credential, StringConstraints(min_length=1)]


@pytest.mark.parametrize("model", [Outer, Listed])
def test_a_nested_credential_is_refused_when_the_route_is_declared(
    model: type[BaseModel],
) -> None:
    with pytest.raises(RegistrationError, match="top-level fields"):
        Route("POST", "/x", "x", request=model)
    with pytest.raises(RegistrationError, match="top-level fields"):
        Route("POST", "/x", "x", response=model)


def test_a_credential_in_a_query_is_refused() -> None:
    """Query parameters end up in URLs and access logs."""
    with pytest.raises(RegistrationError, match="access logs"):
        Route("GET", "/x", "x", request=Query, mode=RouteMode.QUERY, read_model="x")


@pytest.mark.parametrize("model", [Inner, Outer])
def test_an_event_payload_with_a_credential_is_refused(model: type[BaseModel]) -> None:
    """Events reach every hook and dead letters: they carry references, not credentials."""
    with pytest.raises(RegistrationError, match="sensitive field"):
        EventSpec("thing_happened", model)


def test_a_worker_refusing_a_payload_names_fields_not_values() -> None:
    """The worker's own check of an opened payload keeps the password out of the problem."""
    route = Route("POST", "/x", "x", request=RegisterRequest)
    payload = {"email": "ada@example.com", "username": "ada", "password": "zq7x!"}
    with pytest.raises(InvalidInput) as refused:
        parse_request(route, payload)
    problem = Problem.from_error(refused.value).to_json()
    assert problem["errors"][0]["loc"] == ["password"] and "zq7x!" not in json.dumps(problem)
