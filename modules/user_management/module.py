"""User management: registration, login with JWTs, and the caller's profile."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from events import Conflict, EventSpec, Unauthorized
from modules.base import BaseModule
from modules.declarations import Index, Route, RouteMode, Secret
from modules.user_management.models import (
    LoginRequest,
    Profile,
    RegisterRequest,
    TokenPair,
    User,
    UserCreated,
    UserLoggedIn,
)

# Users are keyed by a UUID derived from the registering command: a redelivered
# command computes the same id and finds its own earlier insert.
_USER_ID_NAMESPACE = uuid.UUID("0b8f6f9e-3c1d-4a55-9d2e-7f4f3b2a9c10")
BAD_CREDENTIALS = "invalid email or password"


class UserManagementModule(BaseModule):
    name = "user_management"
    description = "Registration, login with JWT access and refresh tokens, the caller's profile."
    routes = (
        Route(
            "POST",
            "/public/register",
            "register",
            request=RegisterRequest,
            auth=False,
            success_status=201,
            summary="Create a user",
            response=Profile,
        ),
        Route(
            "POST",
            "/public/login",
            "login",
            request=LoginRequest,
            auth=False,
            summary="Exchange email and password for tokens",
            response=TokenPair,
        ),
        Route(
            "GET",
            "/userauth/me",
            "me",
            mode=RouteMode.QUERY,
            read_model="profile",
            summary="The caller's profile",
            response=Profile,
        ),
    )
    events = (
        EventSpec("user_created", UserCreated, "A user registered."),
        EventSpec("user_logged_in", UserLoggedIn, "A user exchanged credentials for tokens."),
    )
    secrets = (
        Secret("access_token_ttl_s", "900", "Lifetime of an access token."),
        Secret("refresh_token_ttl_s", "1209600", "Lifetime of a refresh token."),
    )
    indexes = (
        Index("users", (("email", 1),), unique=True),
        Index("users", (("username", 1),), unique=True),
    )

    access_token_ttl_s: int
    refresh_token_ttl_s: int

    def initialize(self, secrets: Mapping[str, str]) -> None:
        super().initialize(secrets)
        self.access_token_ttl_s = int(secrets["access_token_ttl_s"])
        self.refresh_token_ttl_s = int(secrets["refresh_token_ttl_s"])

    @staticmethod
    def user_id_for(command_id: str) -> str:
        return uuid.uuid5(_USER_ID_NAMESPACE, command_id).hex

    def new_user(
        self, request: RegisterRequest, password_hash: str, command_id: str, now: datetime
    ) -> User:
        return User(
            id=self.user_id_for(command_id),
            email=request.email,
            username=request.username,
            password_hash=password_hash,
            created_at=now,
            command_id=command_id,
        )

    @staticmethod
    def check_login(user: User | None, password_matches: bool) -> User:
        """The user if the credentials hold; one message for both failures, so nothing leaks."""
        if user is None or not password_matches:
            raise Unauthorized(BAD_CREDENTIALS)
        return user

    @staticmethod
    def profile(user: User) -> Profile:
        return Profile(
            user_id=user.id,
            email=user.email,
            username=user.username,
            roles=user.roles,
            created_at=user.created_at,
        )

    @staticmethod
    def created_event(user: User) -> UserCreated:
        return UserCreated(user_id=user.id, email=user.email, username=user.username)

    @staticmethod
    def taken(existing: User, request: RegisterRequest) -> Conflict:
        """The conflict to report when ``existing`` already holds the email or username."""
        field = "email" if existing.email == request.email else "username"
        return Conflict(f"{field} is already taken", field=field)
