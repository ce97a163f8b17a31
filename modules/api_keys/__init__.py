"""API keys for service callers, managed by admins."""

from modules.api_keys.module import KEYS_VIEW, ApiKeysModule

__all__ = ["KEYS_VIEW", "ApiKeysModule"]
