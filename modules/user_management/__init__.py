"""User management: register, login, profile."""

from modules.user_management.module import UserManagementModule

__all__ = ["UserManagementModule"]
