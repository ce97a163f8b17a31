"""User management orchestrator: hashing, storage, tokens and the profile read model."""

from __future__ import annotations

from typing import Any

from pymongo.errors import DuplicateKeyError

from core.security import TokenType
from events import CommandResult, NotFound
from modules.user_management import UserManagementModule
from modules.user_management.models import LoginRequest, RegisterRequest, TokenPair, User
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
        tokens = self._issue_tokens(user)
        ctx.emit("user_logged_in", {"user_id": user.id})
        self.put_read_model(PROFILE, user.id, self.module.profile(user))
        return self.result(tokens)

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

    def _issue_tokens(self, user: User) -> TokenPair:
        tokens = self.services.tokens
        access, _ = tokens.issue(
            user.id, TokenType.ACCESS, self.module.access_token_ttl_s, user.roles
        )
        refresh, _ = tokens.issue(
            user.id, TokenType.REFRESH, self.module.refresh_token_ttl_s, user.roles
        )
        return TokenPair(
            access_token=access, refresh_token=refresh, expires_in=self.module.access_token_ttl_s
        )

    def find_by_id(self, user_id: str) -> User | None:
        return self._find({"_id": user_id})

    def find_by_username(self, username: str) -> User | None:
        return self._find({"username": username})

    def _find(self, query: dict[str, Any]) -> User | None:
        document = self.collection("users").find_one(query)
        return None if document is None else from_document(User, document)
