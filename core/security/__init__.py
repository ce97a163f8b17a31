"""Security primitives: passwords, JWTs, sessions, API keys, roles and permissions."""

from core.security.api_keys import ApiKeyRecord, ApiKeyRegistry, AsyncApiKeyReader
from core.security.passwords import PasswordHasher
from core.security.permissions import (
    CANCEL_ANY_COMMAND,
    PLATFORM_PERMISSIONS,
    READ_ANY_COMMAND,
    READ_HEALTH,
    READ_HOOKS,
    READ_METRICS,
    RoleTable,
)
from core.security.sessions import AsyncSessionReader, SessionStore
from core.security.tokens import Claims, TokenService, TokenType
from core.security.user_roles import AsyncUserRolesReader, UserRoles, UserRolesRegistry
from events.permissions import ADMIN_ROLE, OPERATOR_ROLE, ROLES, USER_ROLE

__all__ = [
    "ADMIN_ROLE",
    "CANCEL_ANY_COMMAND",
    "OPERATOR_ROLE",
    "PLATFORM_PERMISSIONS",
    "READ_ANY_COMMAND",
    "READ_HEALTH",
    "READ_HOOKS",
    "READ_METRICS",
    "ROLES",
    "USER_ROLE",
    "ApiKeyRecord",
    "ApiKeyRegistry",
    "AsyncApiKeyReader",
    "AsyncSessionReader",
    "AsyncUserRolesReader",
    "Claims",
    "PasswordHasher",
    "RoleTable",
    "SessionStore",
    "TokenService",
    "TokenType",
    "UserRoles",
    "UserRolesRegistry",
]
