"""User management orchestrator: hashing, storage, tokens and the profile read model.

Users are stored and found by their normalized keys (``identifiers.py``), and
every login attempt is noted against its account before the password is looked
at, so the module's throttle can close the account to a guesser (``throttle.py``).
"""

from __future__ import annotations

import functools
from typing import Any

from pymongo.errors import DuplicateKeyError, OperationFailure

from core.security import TokenType
from core.security.attempts import AttemptLedger
from events import CommandResult, ConfigurationError, NotFound, Unauthorized
from modules.user_management import PROFILE_VIEW, UserManagementModule
from modules.user_management.identifiers import email_key, username_key
from modules.user_management.models import (
    LoginRequest,
    LogoutResult,
    RefreshRequest,
    RegisterRequest,
    TokenPair,
    User,
)
from workers.context import CommandContext
from workers.documents import from_document, to_document
from workers.orchestrator import Orchestrator

# What the keyed digest of an email is for: the account's failed logins in Redis. Keyed, so
# the key names no email and nobody without the sealing key can test a guess against it.
LOGIN_ATTEMPTS = "login-attempts"


class UserManagementOrchestrator(Orchestrator[UserManagementModule]):
    module_class = UserManagementModule

    def register(self, ctx: CommandContext, request: RegisterRequest) -> CommandResult:
        password_hash = self.services.passwords.hash(request.password)
        user = self.module.new_user(request, password_hash, ctx.command.id, ctx.now)
        user = self._insert_or_find_own(user, request)
        ctx.emit("user_created", self.module.created_event(user))
        profile = self.module.profile(user)
        self.put_read_model(PROFILE_VIEW, user.id, profile)
        return self.result(profile, status_code=201)

    def login(self, ctx: CommandContext, request: LoginRequest) -> CommandResult:
        """Tokens for the right email and password, unless the account is closed to logins.

        The attempt is noted first, known email or not: refused, or with the wrong
        password, it stays as a failure; with the right one the failures are cleared.
        """
        key = email_key(request.email)
        subject = self.services.keys.digest(LOGIN_ATTEMPTS, key)
        throttle, now = self.module.throttle, ctx.now.timestamp()
        earlier = self._attempts.note(
            subject, ctx.command.id, now, throttle.window_s, throttle.remembered
        )
        throttle.check(earlier, now)  # closed: refused before any password is checked
        user = self._find({"email_key": key})
        matches = self.services.passwords.verify(
            user.password_hash if user else None, request.password
        )
        user = self.module.check_login(user, matches)
        self._attempts.clear(subject)
        session = self.module.session_id_for(ctx.command.id)
        tokens, refresh_id = self._issue_tokens(user, session)
        self.services.sessions.open(session, user.id, refresh_id, self.module.refresh_token_ttl_s)
        ctx.emit("user_logged_in", {"user_id": user.id})
        self.put_read_model(PROFILE_VIEW, user.id, self.module.profile(user))
        return self.result(tokens)

    def refresh(self, ctx: CommandContext, request: RefreshRequest) -> CommandResult:
        """Rotate: the presented refresh token is spent and a new pair is issued."""
        claims = self.services.tokens.verify(request.refresh_token, TokenType.REFRESH)
        successor = self.module.successor_token_id(ctx.command.id)
        self.services.sessions.rotate(
            claims.family,
            claims.subject,
            claims.token_id,
            successor,
            self.module.refresh_token_ttl_s,
        )
        user = self._find({"_id": claims.subject})
        if user is None:
            raise Unauthorized("the token's user no longer exists")
        tokens, _ = self._issue_tokens(user, claims.family, successor)
        return self.result(tokens)

    def logout(self, ctx: CommandContext) -> CommandResult:
        """End every session of the caller: their access and refresh tokens stop working."""
        user_id = ctx.actor.user_id
        if user_id is None:
            raise NotFound("only users have sessions")
        ended = self.services.sessions.end_all(user_id)
        ctx.emit("user_logged_out", self.module.logged_out_event(user_id, ended))
        return self.result(LogoutResult(sessions_ended=ended))

    def me(self, ctx: CommandContext) -> CommandResult:
        """Rebuilds the profile read model from MongoDB when the gateway found it missing."""
        user = self._find({"_id": ctx.actor.user_id})
        if user is None:
            raise NotFound("the caller's user no longer exists")
        profile = self.module.profile(user)
        self.put_read_model(PROFILE_VIEW, user.id, profile)
        return self.result(profile)

    def _insert_or_find_own(self, user: User, request: RegisterRequest) -> User:
        """Insert ``user``; a redelivered command finds its own earlier insert instead."""
        try:
            self.collection("users").insert_one(to_document(user))
        except DuplicateKeyError:
            own = self._find({"_id": user.id})
            if own is not None:
                return own
            # Two lookups, each by its unique index (an $or is a collection scan on some
            # servers); the email is named first when both are taken.
            existing = self._find({"email_key": user.email_key}) or self._find(
                {"username_key": user.username_key}
            )
            if existing is None:
                raise  # the clash is gone already; let the retry policy run it again
            raise self.module.taken(existing, request) from None
        return user

    def _issue_tokens(
        self, user: User, session: str, refresh_id: str | None = None
    ) -> tuple[TokenPair, str]:
        """An access and a refresh token of ``session``, and the refresh token's id."""
        tokens, ttl_s = self.services.tokens, self.module.access_token_ttl_s
        access, _ = tokens.issue(user.id, TokenType.ACCESS, ttl_s, user.roles, family=session)
        refresh, claims = tokens.issue(
            user.id,
            TokenType.REFRESH,
            self.module.refresh_token_ttl_s,
            user.roles,
            family=session,
            token_id=refresh_id,
        )
        pair = TokenPair(access_token=access, refresh_token=refresh, expires_in=ttl_s)
        return pair, claims.token_id

    def find_by_id(self, user_id: str) -> User | None:
        return self._find({"_id": user_id})

    def find_by_username(self, username: str) -> User | None:
        """The user ``username`` names, however it is cased or spelled (``Alice`` is alice)."""
        return self._find({"username_key": username_key(username)})

    def ensure_indexes(self) -> None:
        """Give records from before the keys existed their keys, then build the indexes.

        Two such records that normalize the same (``alice`` and ``Alice``, registered
        before) cannot both be kept unique: start-up stops and says so.
        """
        users = self.collection("users")
        try:
            for document in users.find({"username_key": {"$exists": False}}):
                keys = {
                    "email_key": email_key(document["email"]),
                    "username_key": username_key(document["username"]),
                }
                users.update_one({"_id": document["_id"]}, {"$set": keys})
            super().ensure_indexes()
        except OperationFailure as e:  # a duplicate key, on an update or the index build
            raise ConfigurationError(
                f"two users share a normalized email or username; rename one, then start again: {e}"
            ) from e

    @functools.cached_property
    def _attempts(self) -> AttemptLedger:
        return AttemptLedger(self.services.redis)

    def _find(self, query: dict[str, Any]) -> User | None:
        document = self.collection("users").find_one(query)
        return None if document is None else from_document(User, document)
