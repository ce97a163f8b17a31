"""User management: register, login, profile."""

from modules.user_management.module import PROFILE_VIEW, UserManagementModule

__all__ = ["PROFILE_VIEW", "UserManagementModule"]
