"""``Client``: Hookline's API over a blocking ``httpx.Client``."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from hookline.client.base import DEFAULT_TIMEOUT_S, DEFAULT_URL, BaseClient
from hookline.client.errors import ConnectionFailed, WaitTimeout
from hookline.client.models import (
    Accepted,
    CommandDocument,
    CommandPage,
    CommandStatus,
    CommandSummary,
    DoneEvent,
    GoneEvent,
    Outcome,
    StreamEvent,
)
from hookline.client.retry import DEFAULT_RETRIES
from hookline.client.wire import Call, StreamReader, When, done_document, raise_for_problem

# A wait's stream is opened again once its read timeout exceeds what is left of the wait
# by this much (keep-alives reset the timer), so the wait ends on time.
_REOPEN_DRIFT_S = 1.0


class Client(BaseClient):
    """A client of one gateway: submit commands, read and follow them, list and cancel.

    ``retries`` is how many more times a request is sent after a transport error; a
    submit is sent again with the same Idempotency-Key, so its command runs once.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token=token, api_key=api_key, timeout=timeout, retries=retries)
        self._http = httpx.Client(**self._http_options(), transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def submit(
        self,
        target: str,
        payload: Mapping[str, Any] | None = None,
        *,
        wait: float | None = None,
        idempotency_key: str | None = None,
        not_before: When | None = None,
        deadline: When | None = None,
    ) -> Accepted | Outcome:
        """Submit a command: ``Accepted``, or its ``Outcome`` if it finished within
        ``wait`` seconds. A refusal, or a failed outcome, raises its ``HooklineProblem``."""
        if self._needs_routes(target):
            self._learn_routes(self._send(self._openapi_call()))
        call = self._submit_call(
            target,
            payload,
            wait=wait,
            idempotency_key=idempotency_key,
            not_before=not_before,
            deadline=deadline,
        )
        return self._submitted(self._send(call))

    def get(self, command_id: str, *, claim: str | None = None) -> CommandDocument:
        return self._document(self._send(self._document_call(command_id, claim)))

    def follow(self, command_id: str, *, claim: str | None = None) -> Iterator[StreamEvent]:
        """The command's events as they happen, ending with ``DoneEvent`` (or ``GoneEvent``)."""
        response = self._open_stream(self._stream_call(command_id, claim, None))
        reader = StreamReader(response)
        try:
            for line in _lines(response):
                event = reader.feed(line)
                if event is not None:
                    yield event
                if reader.over:
                    return
            last = reader.end()
            if last is not None:
                yield last
        finally:
            response.close()

    def wait(
        self, command_id: str, timeout: float = 60.0, *, claim: str | None = None
    ) -> CommandDocument:
        """The command's document once it is done: terminal, every hook run.

        Raises ``WaitTimeout`` if it is not done within ``timeout`` seconds, ``Gone`` if it
        expired meanwhile.
        """
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                document = self._done_within(command_id, claim, remaining, deadline)
            except ConnectionFailed as e:
                if not isinstance(e.__cause__, httpx.ReadTimeout):
                    raise
                break
            if document is not None:
                return document
        raise WaitTimeout(command_id, timeout)

    def list(
        self,
        *,
        status: CommandStatus | str | None = None,
        name: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        owner: str | None = None,
    ) -> CommandPage:
        """One page of the caller's commands, newest first (``owner``: admins, operators)."""
        return self._page(self._send(self._list_call(status, name, limit, cursor, owner)))

    def list_all(
        self,
        *,
        status: CommandStatus | str | None = None,
        name: str | None = None,
        limit: int | None = None,
        owner: str | None = None,
    ) -> Iterator[CommandSummary]:
        """Every matching command, newest first, reading page after page (``limit`` each)."""
        cursor: str | None = None
        while True:
            page = self.list(status=status, name=name, limit=limit, cursor=cursor, owner=owner)
            yield from page.items
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def cancel(self, command_id: str, *, claim: str | None = None) -> CommandDocument:
        """Cancel the command: its document, ``cancelled``, or ``cancel_requested`` while a
        running handler gets to its next checkpoint. ``Conflict`` if it can no longer be."""
        return self._document(self._send(self._cancel_call(command_id, claim)))

    def _done_within(
        self, command_id: str, claim: str | None, read_s: float, deadline: float
    ) -> CommandDocument | None:
        """The done document from one stream; None when the wait is over, or when the
        stream should be opened again with a shorter read timeout (time passed while
        keep-alives came, each resetting the timer)."""
        response = self._open_stream(self._stream_call(command_id, claim, read_s), deadline)
        reader = StreamReader(response)
        try:
            for line in _lines(response):
                event = reader.feed(line)
                if isinstance(event, DoneEvent | GoneEvent):
                    return done_document(event)
                left_s = deadline - time.monotonic()
                if left_s <= 0 or left_s < read_s - _REOPEN_DRIFT_S:
                    return None
            return done_document(reader.end())
        finally:
            response.close()

    def _open_stream(self, call: Call, deadline: float | None = None) -> httpx.Response:
        response = self._send(call, stream=True, deadline=deadline)
        if response.is_error:
            response.read()
            response.close()
            raise_for_problem(response)
        return response

    def _send(
        self, call: Call, *, stream: bool = False, deadline: float | None = None
    ) -> httpx.Response:
        """``call``'s answer, sent again as the retry policy says (never past ``deadline``)."""
        attempts = self.retry.start(deadline)
        while True:
            try:
                response = self._http.send(call.request(self._http), stream=stream)
            except httpx.TransportError as e:
                time.sleep(attempts.after_error(e))
                continue
            pause = attempts.after_response(response)
            if pause is None:
                return response
            response.close()
            time.sleep(pause)


def _lines(response: httpx.Response) -> Iterator[str]:
    """The stream's lines; a connection that breaks mid-stream is ``ConnectionFailed``."""
    try:
        yield from response.iter_lines()
    except httpx.TransportError as e:
        raise ConnectionFailed(f"the stream broke: {type(e).__name__}: {e}") from e
