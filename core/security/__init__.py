"""Security primitives: password hashing and JWTs."""

from core.security.passwords import PasswordHasher
from core.security.tokens import Claims, TokenService, TokenType

__all__ = ["Claims", "PasswordHasher", "TokenService", "TokenType"]
