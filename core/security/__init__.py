"""Security primitives: passwords, JWTs, sessions, API keys and permissions."""

from core.security.api_keys import ApiKeyRecord, ApiKeyRegistry, AsyncApiKeyReader
from core.security.passwords import PasswordHasher
from core.security.permissions import (
    ADMIN_ROLE,
    KNOWN_PERMISSIONS,
    USER_ROLE,
    has_permission,
    permissions_of,
    require,
)
from core.security.sessions import AsyncSessionReader, SessionStore
from core.security.tokens import Claims, TokenService, TokenType

__all__ = [
    "ADMIN_ROLE",
    "KNOWN_PERMISSIONS",
    "USER_ROLE",
    "ApiKeyRecord",
    "ApiKeyRegistry",
    "AsyncApiKeyReader",
    "AsyncSessionReader",
    "Claims",
    "PasswordHasher",
    "SessionStore",
    "TokenService",
    "TokenType",
    "has_permission",
    "permissions_of",
    "require",
]
