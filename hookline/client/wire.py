"""The API's headers and paths, and reading its answers: no I/O here.

Both clients build a ``Call`` for each request and hand the response back to these
parsers, so the two differ only in how they send and sleep.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from hookline.client.errors import InvalidArgument, ProtocolError, problem_error, stream_gone
from hookline.client.models import (
    CommandDocument,
    DoneEvent,
    GoneEvent,
    HookEvent,
    ProblemDocument,
    StatusEvent,
    StreamEvent,
)
from hookline.client.sse import EventParser, ServerEvent

IDEMPOTENCY_HEADER = "Idempotency-Key"
CLAIM_HEADER = "Command-Claim"
API_KEY_HEADER = "X-API-Key"
PREFER_HEADER = "Prefer"
NOT_BEFORE_HEADER = "Command-Not-Before"
DEADLINE_HEADER = "Command-Deadline"
REPLAYED_HEADER = "Idempotent-Replayed"
RETRY_AFTER_HEADER = "Retry-After"
COMMANDS_PATH = "/commands"
EVENT_STREAM = "text/event-stream"
# A body that is not a problem document is quoted this far in the exception.
_QUOTED_CHARS = 500

# When a command may start, or must have started by: a date-time, or time from now.
When = datetime | timedelta | int | float
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Call:
    """One request, as either client sends it (again, unchanged, when it is retried)."""

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json: Any = None  # None: no body
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: httpx.Timeout | None = None  # None: the client's own

    def request(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        return http.build_request(
            self.method,
            self.path,
            params=self.params,
            json=self.json,
            headers=dict(self.headers),
            timeout=self.timeout if self.timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )


def command_path(command_id: str, suffix: str = "") -> str:
    """``/commands/{id}`` and below; the id is quoted, so it cannot step out of its path."""
    return f"{COMMANDS_PATH}/{quote(command_id, safe='')}{suffix}"


def when_header(value: When) -> str:
    """A ``Command-Not-Before``/``Command-Deadline`` value: RFC 3339 for a date-time, else
    whole seconds from now (rounded up: never earlier than asked)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise InvalidArgument(f"{value!r} has no time zone; give an aware datetime")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0 or not math.isfinite(seconds):
        raise InvalidArgument(f"{value!r}: give a time from now of 0 seconds or more")
    return str(math.ceil(seconds))


def wait_header(wait_s: float) -> str:
    if wait_s < 0 or not math.isfinite(wait_s):
        raise InvalidArgument(f"wait must be 0 seconds or more, not {wait_s!r}")
    return f"wait={math.ceil(wait_s)}"


def command_id_from(response: httpx.Response) -> str | None:
    """The command a response is about, from its ``Location`` (``/commands/{id}``)."""
    location = response.headers.get("Location")
    if not location:
        return None
    path = httpx.URL(location).path
    parent, _, command_id = path.rstrip("/").rpartition("/")
    return command_id if parent.endswith(COMMANDS_PATH) and command_id else None


def retry_after_s(response: httpx.Response) -> int | None:
    value = response.headers.get(RETRY_AFTER_HEADER, "")
    return int(value) if value.isascii() and value.isdigit() else None


def json_body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as e:
        raise ProtocolError(f"{_where(response)} answered a body that is not JSON") from e


def parsed(model: type[M], data: Any, response: httpx.Response) -> M:
    """``data`` read as ``model``; a body that does not fit is the gateway's fault."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ProtocolError(f"{_where(response)} answered an unexpected body: {e}") from e


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the ``HooklineProblem`` an error response stands for; nothing on success."""
    if not response.is_error:
        return
    document = _problem_document(response)
    raise problem_error(
        document, command_id=command_id_from(response), retry_after_s=retry_after_s(response)
    )


def _problem_document(response: httpx.Response) -> ProblemDocument:
    """The body as a problem document; a body of another shape (a proxy's page) becomes
    one with the status, its reason and the start of the text."""
    try:
        data = response.json()
        if isinstance(data, dict) and "status" in data:
            return ProblemDocument.model_validate(data)
    except (ValueError, ValidationError):
        pass
    return ProblemDocument(
        status=response.status_code,
        title=response.reason_phrase,
        detail=response.text[:_QUOTED_CHARS] or None,
    )


def _where(response: httpx.Response) -> str:
    return f"{response.request.method} {response.request.url.path}"


class StreamReader:
    """The lines of one command's event stream in, typed events out; ``over`` once its
    last event (``done`` or ``gone``) came. Events it does not know are skipped."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._parser = EventParser()
        self.over = False

    def feed(self, line: str) -> StreamEvent | None:
        event = self._parser.feed(line)
        return None if event is None else self._typed(event)

    def end(self) -> StreamEvent | None:
        """The event the stream's end completed, if any; a stream that ended before its
        last event is a ``ProtocolError``."""
        event = self._parser.close()
        typed = None if event is None else self._typed(event)
        if not self.over:
            raise ProtocolError(f"{_where(self._response)} ended before the command was done")
        return typed

    def _typed(self, event: ServerEvent) -> StreamEvent | None:
        build = _EVENTS.get(event.event)
        if build is None or self.over:
            return None
        try:
            data = event.json()
        except ValueError as e:
            raise ProtocolError(f"{_where(self._response)}: event data is not JSON") from e
        sequence = int(event.id) if event.id and event.id.isdigit() else None
        typed = parsed(build, _event_fields(build, data, sequence), self._response)
        self.over = isinstance(typed, DoneEvent | GoneEvent)
        return typed


_EVENTS: dict[str, type[StreamEvent]] = {
    "status": StatusEvent,
    "hook": HookEvent,
    "done": DoneEvent,
    "gone": GoneEvent,
}


# Events whose data is one whole record, rather than the event's own fields.
_WHOLE: dict[type[StreamEvent], str] = {HookEvent: "run", DoneEvent: "document"}


def _event_fields(build: type[StreamEvent], data: Any, sequence: int | None) -> Any:
    whole = _WHOLE.get(build)
    if whole is not None:
        return {whole: data, "sequence": sequence}
    return {**data, "sequence": sequence} if isinstance(data, dict) else data


def done_document(event: StreamEvent | None) -> CommandDocument | None:
    """The document of a ``done`` event; a ``gone`` event raises ``Gone``."""
    if isinstance(event, GoneEvent):
        raise stream_gone(event.command_id)
    return event.document if isinstance(event, DoneEvent) else None
