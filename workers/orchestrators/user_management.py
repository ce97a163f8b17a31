"""User management orchestrator: hashing, storage, tokens and the profile read model."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from core.security import TokenType
from events import CommandResult, NotFound, Unauthorized
from modules.user_management import UserManagementModule
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

PROFILE = "profile"


class UserManagementOrchestrator(Orchestrator[UserManagementModule]):
    module_class = UserManagementModule

    def register(self, ctx: CommandContext, request: RegisterRequest) -> CommandResult:
        password_hash = self.services.passwords.hash(request.password)
        user = self.module.new_user(request, password_hash, ctx.command.id, ctx.now)
        user = self._insert_or_find_own(user, request)
        ctx.emit("user_created", self.module.created_event(user))
        profile = self.module.profile(user)
        self.put_read_model(PROFILE, user.id, profile)
        return self.result(profile, status_code=201)

    def login(self, ctx: CommandContext, request: LoginRequest) -> CommandResult:
        user = self._find({"email": request.email})
        matches = self.services.passwords.verify(
            user.password_hash if user else None, request.password
        )
        user = self.module.check_login(user, matches)
        session = self.module.session_id_for(ctx.command.id)
        tokens, refresh_id = self._issue_tokens(user, session)
        self.services.sessions.open(session, user.id, refresh_id, self.module.refresh_token_ttl_s)
        ctx.emit("user_logged_in", {"user_id": user.id})
        self.put_read_model(PROFILE, user.id, self.module.profile(user))
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
        self.put_read_model(PROFILE, user.id, profile)
        return self.result(profile)

    def _insert_or_find_own(self, user: User, request: RegisterRequest) -> User:
        """Insert ``user``; a redelivered command finds its own earlier insert instead."""
        try:
            self.collection("users").insert_one(to_document(user))
        except DuplicateKeyError:
            own = self._find({"_id": user.id})
            if own is not None:
                return own
            existing = self._find(
                {"$or": [{"email": request.email}, {"username": request.username}]}
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
        return self._find({"username": username})

    def _find(self, query: dict[str, Any]) -> User | None:
        document = self.collection("users").find_one(query)
        return None if document is None else from_document(User, document)
