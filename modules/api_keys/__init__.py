"""API keys for service callers, managed by admins."""

from modules.api_keys.module import ApiKeysModule

__all__ = ["ApiKeysModule"]
