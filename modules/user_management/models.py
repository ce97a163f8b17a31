"""Requests, records and event payloads of the user_management module."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from events import Credential
from modules.user_management.identifiers import compatible

Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    ),
]
# Checked in its NFKC form: a fullwidth or compatibility spelling of a name is that name
# (and stored so), not a refused one; it then clashes with the name (identifiers.py).
Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$"
    ),
    BeforeValidator(compatible),
]
Password = Annotated[Credential, StringConstraints(min_length=8, max_length=128)]


class _Request(BaseModel):
    # Unknown fields are refused so nobody can slip in `roles` or `balance`.
    model_config = ConfigDict(extra="forbid", frozen=True)


class RegisterRequest(_Request):
    email: Email
    username: Username
    password: Password


class LoginRequest(_Request):
    email: Email
    password: Annotated[Credential, StringConstraints(min_length=1, max_length=128)]


class RefreshRequest(_Request):
    refresh_token: Annotated[Credential, StringConstraints(min_length=1, max_length=4096)]


class User(BaseModel):
    """A stored user; ``id`` is derived from the registering command, so a replay finds it."""

    model_config = ConfigDict(frozen=True)

    id: str
    email: str
    username: str
    # The keys each is unique under and found by (identifiers.py); the fields above are
    # the display forms, as registered.
    email_key: str
    username_key: str
    password_hash: str
    roles: tuple[str, ...] = ("user",)
    created_at: datetime
    command_id: str


class Profile(BaseModel):
    """The read model behind ``GET /userauth/me``."""

    user_id: str
    email: str
    username: str
    roles: tuple[str, ...]
    created_at: datetime


class UserCreated(BaseModel):
    user_id: str
    email: str
    username: str


class UserLoggedIn(BaseModel):
    user_id: str


class UserLoggedOut(BaseModel):
    user_id: str
    sessions_ended: int


class LogoutResult(BaseModel):
    sessions_ended: int


class TokenPair(BaseModel):
    access_token: Credential
    refresh_token: Credential
    token_type: str = "Bearer"
    expires_in: int = Field(description="access token lifetime in seconds")
