"""User management: registration, login with JWTs, and the caller's profile."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime

from events import ConfigurationError, Conflict, EventSpec, Unauthorized
from modules.base import BaseModule
from modules.declarations import ADMIN_ROLE, USER_ROLE, Index, Permission, Route, RouteMode, Secret
from modules.user_management.identifiers import email_key, username_key
from modules.user_management.models import (
    LoginRequest,
    Profile,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    User,
    UserCreated,
    UserLoggedIn,
    UserLoggedOut,
)
from modules.user_management.throttle import LoginThrottle

# Users are keyed by a UUID derived from the registering command: a redelivered
# command computes the same id and finds its own earlier insert.
_USER_ID_NAMESPACE = uuid.UUID("0b8f6f9e-3c1d-4a55-9d2e-7f4f3b2a9c10")
# Sessions and rotated refresh tokens derive from their command the same way.
_SESSION_NAMESPACE = uuid.UUID("9d4e2a71-5c3b-4f8e-b1a0-6e7d8c9f0a12")
_REFRESH_NAMESPACE = uuid.UUID("c2b1a0f9-8e7d-4c6b-9a58-4f3e2d1c0b9a")
BAD_CREDENTIALS = "invalid email or password"
# The Redis view this module publishes (``read_models``); its query route serves it.
PROFILE_VIEW = "profile"


class UserManagementModule(BaseModule):
    name = "user_management"
    read_models = (PROFILE_VIEW,)
    description = "Registration, login with JWT access and refresh tokens, the caller's profile."
    permissions = (
        Permission("profile:read", description="Read your profile"),
        Permission("session:logout", description="End your sessions"),
    )
    routes = (
        Route(
            "POST",
            "/public/register",
            "register",
            request=RegisterRequest,
            auth=False,
            success_status=201,
            summary="Create a user",
            rate_limit="10/minute",
            response=Profile,
        ),
        Route(
            "POST",
            "/public/login",
            "login",
            request=LoginRequest,
            auth=False,
            summary="Exchange email and password for tokens",
            rate_limit="10/minute",
            response=TokenPair,
        ),
        Route(
            "POST",
            "/public/refresh",
            "refresh",
            request=RefreshRequest,
            auth=False,
            summary="Exchange a refresh token for new tokens; the old one stops working",
            rate_limit="30/minute",
            response=TokenPair,
        ),
        Route(
            "POST",
            "/userauth/logout",
            "logout",
            permission="session:logout",
            users_only=True,
            summary="End every session of the caller",
        ),
        Route(
            "GET",
            "/userauth/me",
            "me",
            permission="profile:read",
            users_only=True,
            mode=RouteMode.QUERY,
            read_model=PROFILE_VIEW,
            summary="The caller's profile",
            response=Profile,
        ),
    )
    events = (
        EventSpec("user_created", UserCreated, "A user registered.", subjects=("user_id",)),
        EventSpec(
            "user_logged_in",
            UserLoggedIn,
            "A user exchanged credentials for tokens.",
            subjects=("user_id",),
        ),
        EventSpec(
            "user_logged_out",
            UserLoggedOut,
            "A user ended all their sessions.",
            subjects=("user_id",),
        ),
    )
    secrets = (
        Secret("access_token_ttl_s", "900", "Lifetime of an access token."),
        Secret("refresh_token_ttl_s", "1209600", "Lifetime of a refresh token (and a session)."),
        Secret("admin_emails", "", "Comma-separated emails that get the admin role on register."),
        Secret(
            "login_failures_allowed",
            str(LoginThrottle.allowed),
            "Failed logins of one account, within the window, before its logins must wait.",
        ),
        Secret(
            "login_failure_window_s",
            str(LoginThrottle.window_s),
            "How long a failed login counts against its account.",
        ),
        Secret(
            "login_lock_base_s",
            str(LoginThrottle.base_delay_s),
            "The first wait once the failures allowed are used; it doubles with each failure.",
        ),
        Secret(
            "login_lock_max_s",
            str(LoginThrottle.max_delay_s),
            "The longest an account waits between logins, however many failures.",
        ),
    )
    # Unique under the normalized keys (identifiers.py): `Alice` cannot join `alice`.
    indexes = (
        Index("users", (("email_key", 1),), unique=True),
        Index("users", (("username_key", 1),), unique=True),
    )

    access_token_ttl_s: int
    refresh_token_ttl_s: int
    admin_emails: frozenset[str]
    throttle: LoginThrottle

    def initialize(self, secrets: Mapping[str, str]) -> None:
        super().initialize(secrets)
        self.access_token_ttl_s = int(secrets["access_token_ttl_s"])
        self.refresh_token_ttl_s = int(secrets["refresh_token_ttl_s"])
        self.admin_emails = frozenset(
            email_key(e) for e in secrets.get("admin_emails", "").split(",") if e.strip()
        )
        self.throttle = LoginThrottle(
            allowed=int(_number(secrets, "login_failures_allowed", LoginThrottle.allowed)),
            window_s=int(_number(secrets, "login_failure_window_s", LoginThrottle.window_s)),
            base_delay_s=_number(secrets, "login_lock_base_s", LoginThrottle.base_delay_s),
            max_delay_s=_number(secrets, "login_lock_max_s", LoginThrottle.max_delay_s),
        )

    @staticmethod
    def user_id_for(command_id: str) -> str:
        return uuid.uuid5(_USER_ID_NAMESPACE, command_id).hex

    @staticmethod
    def session_id_for(command_id: str) -> str:
        """The session a login opens; a redelivered login reopens the same one."""
        return uuid.uuid5(_SESSION_NAMESPACE, command_id).hex

    @staticmethod
    def successor_token_id(command_id: str) -> str:
        """The id of the refresh token a refresh command hands out; stable across retries."""
        return uuid.uuid5(_REFRESH_NAMESPACE, command_id).hex

    def roles_for(self, email: str) -> tuple[str, ...]:
        """Everybody is a user; the configured admin emails (compared as keys) are admins too."""
        return (USER_ROLE, ADMIN_ROLE) if email_key(email) in self.admin_emails else (USER_ROLE,)

    def new_user(
        self, request: RegisterRequest, password_hash: str, command_id: str, now: datetime
    ) -> User:
        return User(
            id=self.user_id_for(command_id),
            email=request.email,
            username=request.username,
            email_key=email_key(request.email),
            username_key=username_key(request.username),
            password_hash=password_hash,
            roles=self.roles_for(request.email),
            created_at=now,
            command_id=command_id,
        )

    @staticmethod
    def logged_out_event(user_id: str, sessions_ended: int) -> UserLoggedOut:
        return UserLoggedOut(user_id=user_id, sessions_ended=sessions_ended)

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
        """The conflict to report when ``existing`` already holds the email or username (or
        a spelling of it that normalizes the same)."""
        field = "email" if existing.email_key == email_key(request.email) else "username"
        return Conflict(f"{field} is already taken", field=field)


def _number(secrets: Mapping[str, str], name: str, default: float) -> float:
    """The secret ``name`` as a number (``default`` when unset); a wrong one stops start-up."""
    raw = secrets.get(name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"secret {name!r} must be a number, not {raw!r}") from None
