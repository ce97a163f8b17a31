"""What the client tests share: users to act as, and transports that lose an answer."""

from __future__ import annotations

import httpx

from tests.e2e.helpers import signed_up


def access_token(client: httpx.Client) -> str:
    """A new user's bearer access token."""
    _, auth = signed_up(client)
    return auth["Authorization"].removeprefix("Bearer ")


def _lost(request: httpx.Request) -> httpx.ReadError:
    return httpx.ReadError("the connection broke before the answer came", request=request)


class LosesFirstAnswer(httpx.BaseTransport):
    """Sends every request to the gateway for real, but the answer to the first POST is
    lost on the way back, as when a connection breaks after the gateway took a command."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.posts: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method != "POST":
            return response
        self.posts.append(request)
        if len(self.posts) > 1:
            return response
        response.read()
        response.close()
        raise _lost(request)

    def close(self) -> None:
        self.inner.close()


class AsyncLosesFirstAnswer(httpx.AsyncBaseTransport):
    """``LosesFirstAnswer`` for ``AsyncClient``."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.posts: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method != "POST":
            return response
        self.posts.append(request)
        if len(self.posts) > 1:
            return response
        await response.aread()
        await response.aclose()
        raise _lost(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
