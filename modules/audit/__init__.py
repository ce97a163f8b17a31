"""Audit: records every event."""

from modules.audit.module import AuditEntry, AuditModule

__all__ = ["AuditEntry", "AuditModule"]
