"""What the client raises: one tree under ``ClientError``, problem documents by status.

Every refusal the gateway answers is an RFC 9457 problem document; ``problem_error`` turns
one into the ``HooklineProblem`` subclass for its status, in this one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hookline.client.models import ProblemDocument

KEY_IN_USE_TYPE = "https://hookline.dev/problems/idempotency-key-in-use"


class ClientError(Exception):
    """Base of everything the client raises on purpose."""


class InvalidArgument(ClientError, ValueError):
    """An argument the client refuses before sending anything (a naive datetime, a path
    parameter missing from the payload)."""


class ConnectionFailed(ClientError):
    """The gateway could not be reached, or the connection broke, on every try."""


class UnknownCommand(ClientError):
    """A command name that the gateway's OpenAPI document does not list."""


class ProtocolError(ClientError):
    """The gateway answered something the API does not describe (a stream cut short, a
    body that is not JSON)."""


class WaitTimeout(ClientError, TimeoutError):
    """The command was not done when the wait ran out; it goes on."""

    def __init__(self, command_id: str, timeout_s: float) -> None:
        super().__init__(f"command {command_id} was not done within {timeout_s:g} s")
        self.command_id = command_id


@dataclass(frozen=True)
class FieldError:
    """One offending field of a refused request: a body path (``amount``) or a header."""

    field: str
    message: str
    type: str | None = None


class HooklineProblem(ClientError):
    """A problem document the gateway answered: a refused request, or a failed command.

    ``command_id`` is set when the problem is a command's outcome (its ``Location``),
    unset when the request itself was refused.
    """

    def __init__(
        self,
        document: ProblemDocument,
        *,
        command_id: str | None = None,
        retry_after_s: int | None = None,
    ) -> None:
        self.document = document
        self.status = document.status
        self.type = document.type
        self.title = document.title
        self.detail = document.detail
        self.errors = _field_errors(document)
        self.command_id = command_id
        self.retry_after_s = retry_after_s if retry_after_s is not None else document.retry_after_s
        super().__init__(f"{self.status} {self.title}: {self.detail or ''}".rstrip(": "))

    @property
    def fields(self) -> tuple[str, ...]:
        """The names of the offending fields, if the problem names any."""
        return tuple(error.field for error in self.errors)


class InvalidRequest(HooklineProblem):
    """400 or 422: the request is malformed or its input invalid; ``errors`` name fields."""


class Unauthorized(HooklineProblem):
    """401: no valid credentials."""


class Forbidden(HooklineProblem):
    """403: the caller lacks the permission."""


class NotFound(HooklineProblem):
    """404: unknown, or not the caller's (nobody learns which ids exist)."""


class Conflict(HooklineProblem):
    """409: the command conflicts with the current state."""


class KeyInUse(Conflict):
    """409: the first request with this Idempotency-Key is still in flight."""


class Gone(HooklineProblem):
    """410: the command existed but is past its time to live."""


class RateLimited(HooklineProblem):
    """429: too many requests (or open waits); come back after ``retry_after_s``."""


class Unavailable(HooklineProblem):
    """503: a store or the broker is down; come back after ``retry_after_s``."""


_BY_STATUS: dict[int, type[HooklineProblem]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: InvalidRequest,
    429: RateLimited,
    503: Unavailable,
}
_BY_TYPE: dict[str, type[HooklineProblem]] = {KEY_IN_USE_TYPE: KeyInUse}


def problem_error(
    document: ProblemDocument, *, command_id: str | None = None, retry_after_s: int | None = None
) -> HooklineProblem:
    """The exception for ``document``: by its type where one is known, else by its status."""
    cls = _BY_TYPE.get(document.type) or _BY_STATUS.get(document.status, HooklineProblem)
    return cls(document, command_id=command_id, retry_after_s=retry_after_s)


def stream_gone(command_id: str) -> Gone:
    """The stream's ``gone`` event, as the ``Gone`` a read of the expired command answers."""
    detail = f"command {command_id} expired while it was followed"
    return Gone(ProblemDocument(title="Gone", status=410, detail=detail), command_id=command_id)


def _field_errors(document: ProblemDocument) -> tuple[FieldError, ...]:
    """``errors: [{field, message, type}]``, or a lone ``field`` naming a header or path."""
    extra: dict[str, Any] = document.model_extra or {}
    listed = extra.get("errors")
    if isinstance(listed, list):
        return tuple(
            FieldError(str(e.get("field", "")), str(e.get("message", "")), e.get("type"))
            for e in listed
            if isinstance(e, dict)
        )
    field = extra.get("field")
    return (FieldError(str(field), document.detail or ""),) if field else ()
