"""``AsyncClient``: Hookline's API over an ``httpx.AsyncClient`` (asyncio).

The same requests and answers as ``Client`` (``base.BaseClient`` builds and reads them);
only sending, sleeping and the wait's clock differ.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from types import TracebackType
from typing import Any

import anyio
import httpx

from hookline.client.base import DEFAULT_TIMEOUT_S, DEFAULT_URL, BaseClient
from hookline.client.errors import ConnectionFailed, ProtocolError, WaitTimeout
from hookline.client.models import (
    Accepted,
    CommandDocument,
    CommandPage,
    CommandStatus,
    CommandSummary,
    Outcome,
    StreamEvent,
)
from hookline.client.retry import DEFAULT_RETRIES
from hookline.client.wire import Call, StreamReader, When, done_document, raise_for_problem


class AsyncClient(BaseClient):
    """``Client``'s API, each method a coroutine; ``follow`` and ``list_all`` are async
    iterators (close one you leave early: ``contextlib.aclosing``)."""

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        token: str | None = None,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(base_url, token=token, api_key=api_key, timeout=timeout, retries=retries)
        self._http = httpx.AsyncClient(**self._http_options(), transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def submit(
        self,
        target: str,
        payload: Mapping[str, Any] | None = None,
        *,
        wait: float | None = None,
        idempotency_key: str | None = None,
        not_before: When | None = None,
        deadline: When | None = None,
    ) -> Accepted | Outcome:
        """See ``Client.submit``."""
        if self._needs_routes(target):
            self._learn_routes(await self._send(self._openapi_call()))
        call = self._submit_call(
            target,
            payload,
            wait=wait,
            idempotency_key=idempotency_key,
            not_before=not_before,
            deadline=deadline,
        )
        return self._submitted(await self._send(call))

    async def get(self, command_id: str, *, claim: str | None = None) -> CommandDocument:
        return self._document(await self._send(self._document_call(command_id, claim)))

    async def follow(
        self, command_id: str, *, claim: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """See ``Client.follow``."""
        response = await self._open_stream(self._stream_call(command_id, claim, None))
        reader = StreamReader(response)
        try:
            async for line in _lines(response):
                event = reader.feed(line)
                if event is not None:
                    yield event
                if reader.over:
                    return
            last = reader.end()
            if last is not None:
                yield last
        finally:
            await response.aclose()

    async def wait(
        self, command_id: str, timeout: float = 60.0, *, claim: str | None = None
    ) -> CommandDocument:
        """See ``Client.wait``."""
        try:
            with anyio.fail_after(timeout):
                async with contextlib.aclosing(self.follow(command_id, claim=claim)) as events:
                    async for event in events:
                        document = done_document(event)
                        if document is not None:
                            return document
        except TimeoutError as e:
            raise WaitTimeout(command_id, timeout) from e
        raise ProtocolError(f"the stream of command {command_id} ended before it was done")

    async def list(
        self,
        *,
        status: CommandStatus | str | None = None,
        name: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        owner: str | None = None,
    ) -> CommandPage:
        """See ``Client.list``."""
        return self._page(await self._send(self._list_call(status, name, limit, cursor, owner)))

    async def list_all(
        self,
        *,
        status: CommandStatus | str | None = None,
        name: str | None = None,
        limit: int | None = None,
        owner: str | None = None,
    ) -> AsyncGenerator[CommandSummary, None]:
        """See ``Client.list_all``."""
        cursor: str | None = None
        while True:
            page = await self.list(
                status=status, name=name, limit=limit, cursor=cursor, owner=owner
            )
            for item in page.items:
                yield item
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def cancel(self, command_id: str, *, claim: str | None = None) -> CommandDocument:
        """See ``Client.cancel``."""
        return self._document(await self._send(self._cancel_call(command_id, claim)))

    async def _open_stream(self, call: Call) -> httpx.Response:
        response = await self._send(call, stream=True)
        if response.is_error:
            await response.aread()
            await response.aclose()
            raise_for_problem(response)
        return response

    async def _send(self, call: Call, *, stream: bool = False) -> httpx.Response:
        """See ``Client._send``."""
        attempts = self.retry.start()
        while True:
            try:
                response = await self._http.send(call.request(self._http), stream=stream)
            except httpx.TransportError as e:
                await anyio.sleep(attempts.after_error(e))
                continue
            pause = attempts.after_response(response)
            if pause is None:
                return response
            await response.aclose()
            await anyio.sleep(pause)


async def _lines(response: httpx.Response) -> AsyncIterator[str]:
    try:
        async for line in response.aiter_lines():
            yield line
    except httpx.TransportError as e:
        raise ConnectionFailed(f"the stream broke: {type(e).__name__}: {e}") from e
