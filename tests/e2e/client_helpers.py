"""What the client tests share: users to act as, transports that lose an answer, and
the examples of docs/clients.md to run."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx

from tests.conftest import RunningStack
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


CLIENTS_DOC = Path(__file__).parents[2] / "docs" / "clients.md"
_BLOCK = re.compile(r"^```python( lifecycle)?\n(.*?)^```", re.DOTALL | re.MULTILINE)


def run_doc_examples(stack: RunningStack, *, lifecycle: bool) -> int:
    """Run the Python examples of docs/clients.md in order, in one namespace, against
    ``stack`` as new users; the *lifecycle* ones too when ``lifecycle`` is set. Returns
    how many ran."""
    tag = uuid.uuid4().hex[:10]
    text = CLIENTS_DOC.read_text()
    for old, new in {
        '"http://127.0.0.1:8000"': repr(stack.base_url),
        "ada@example.com": f"ada-{tag}@example.com",
        '"username": "ada"': f'"username": "ada_{tag}"',
        "bob@example.com": f"bob-{tag}@example.com",
        '"username": "bob"': f'"username": "bob_{tag}"',
    }.items():
        assert old in text, f"docs/clients.md no longer says {old}"
        text = text.replace(old, new)
    namespace: dict[str, object] = {"__name__": "clients_doc"}
    blocks = [m for m in _BLOCK.finditer(text) if lifecycle or not m.group(1)]
    for match in blocks:
        exec(compile(match.group(2), f"docs/clients.md@{match.start()}", "exec"), namespace)
    return len(blocks)
