"""The error tree shared by every layer.

Every error a client can see is a ``HooklineError``: it carries the HTTP status
and the RFC 9457 problem type it maps to, so the gateway turns it into a
problem document in one place and a worker can ship it across the bus.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://hookline.dev/problems/"


class HooklineError(Exception):
    """Base of every error Hookline raises on purpose."""

    status: ClassVar[int] = 500
    problem: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extensions = extensions

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.problem


class DomainError(HooklineError):
    """A business rule refused the request; raised by modules."""

    status = 400
    problem = "domain-error"
    title = "Request refused"


class InvalidInput(DomainError):
    status = 422
    problem = "invalid-input"
    title = "Invalid input"


class Unauthorized(DomainError):
    status = 401
    problem = "unauthorized"
    title = "Authentication required"


class Forbidden(DomainError):
    status = 403
    problem = "forbidden"
    title = "Forbidden"


class NotFound(DomainError):
    status = 404
    problem = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    problem = "conflict"
    title = "Conflict"


class Gone(DomainError):
    """The command existed (its id says when) but is past its TTL: not "never existed"."""

    status = 410
    problem = "gone"
    title = "Gone"


class CommandCancelled(Conflict):
    """The command was cancelled before it ran (or stopped at a checkpoint): its outcome."""

    problem = "command-cancelled"
    title = "Command cancelled"


class CommandExpired(Conflict):
    """The command's ``Command-Deadline`` passed before it started: it never ran."""

    problem = "command-expired"
    title = "Command expired"


class TooManyAttempts(DomainError):
    """Refused for now; the client may try again after ``retry_after_s``.

    The problem document carries ``retry_after_s``, and the gateway answers it as
    ``Retry-After`` wherever the problem comes from (a worker's or its own).
    """

    status = 429
    problem = "too-many-attempts"
    title = "Too many attempts"

    def __init__(self, detail: str, retry_after_s: int, **extensions: Any) -> None:
        super().__init__(detail, retry_after_s=retry_after_s, **extensions)
        self.retry_after_s = retry_after_s


class ConfigurationError(HooklineError):
    """A declaration or setting is wrong; stops startup with a message naming it."""

    problem = "configuration-error"
    title = "Configuration error"


class RegistrationError(ConfigurationError):
    """A hook, route or event could not be registered."""

    problem = "registration-error"
    title = "Registration error"


class Transient(HooklineError):
    """A condition expected to pass (contention, a dependency that did not answer).

    The retry policy gives these more tries than other failures; raise it (or a
    subclass) when trying again later is likely to succeed.
    """

    status = 503
    problem = "temporarily-unavailable"
    title = "Temporarily unavailable"


class InvalidTransition(HooklineError):
    """A command status change that the lifecycle does not allow."""

    status = 409
    problem = "invalid-transition"
    title = "Invalid status transition"
