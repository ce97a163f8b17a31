"""Talking to a running gateway for ``hookline submit`` and ``hookline status``."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx

from hookline.sse import ServerEvent, iter_events
from modules import Route, RouteMode, discover

DEFAULT_URL = "http://127.0.0.1:8000"
TOKEN_ENV = "HOOKLINE_TOKEN"
CLAIM_ENV = "HOOKLINE_CLAIM"
CLAIM_HEADER = "Command-Claim"
REQUEST_TIMEOUT_S = 30.0
DONE_EVENT = "done"


class ClientError(Exception):
    """The gateway could not be asked, or the command is unknown; the message says why."""


def route_for(command: str) -> Route:
    """The declared route of a command name such as ``wallet.deposit``."""
    module, _, handler = command.partition(".")
    classes = discover()
    cls = classes.get(module)
    routes = {r.handler: r for r in cls.routes} if cls is not None else {}
    if handler not in routes:
        known = sorted(c.command_name(r.handler) for c in classes.values() for r in c.routes)
        raise ClientError(f"no command {command!r}; known: {', '.join(known)}")
    return routes[handler]


@dataclass
class Gateway:
    """An HTTP client for one gateway, with the caller's bearer token if any, and the claim
    that reads an anonymous command (the ``Command-Claim`` its 202 answered with)."""

    url: str
    token: str | None = None
    claim: str | None = None
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self.client = httpx.Client(base_url=self.url, headers=headers, timeout=REQUEST_TIMEOUT_S)
        if self.claim:
            self.client.headers[CLAIM_HEADER] = self.claim

    def keep_claim(self, response: httpx.Response) -> str | None:
        """Read the command ``response`` accepted with the claim it carries, if any."""
        claim: str | None = response.headers.get(CLAIM_HEADER)
        if claim:
            self.claim = claim
            self.client.headers[CLAIM_HEADER] = claim
        return claim

    def close(self) -> None:
        self.client.close()

    def submit(self, command: str, data: Mapping[str, Any]) -> httpx.Response:
        route = route_for(command)
        if route.mode is RouteMode.QUERY:
            return self._call("GET", route.path, params={k: str(v) for k, v in data.items()})
        return self._call(route.method, route.path, json=dict(data))

    def status(self, command_id: str) -> httpx.Response:
        return self._call("GET", f"/commands/{command_id}")

    def follow(self, command_id: str) -> Iterator[ServerEvent]:
        """The command's event stream, until its ``done`` event."""
        try:
            with self.client.stream(
                "GET", f"/commands/{command_id}/stream", timeout=httpx.Timeout(None, connect=5)
            ) as response:
                if response.status_code != 200:
                    response.read()
                    raise ClientError(_describe(response))
                yield from iter_events(response.iter_lines())
        except httpx.HTTPError as e:
            raise ClientError(f"the stream from {self.url} broke: {e}") from e

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise ClientError(f"cannot reach the gateway at {self.url}: {e}") from e


def _describe(response: httpx.Response) -> str:
    return f"{response.status_code}: {response.text[:500]}"


class ProgressLine:
    """One line that shows a command's progress, rewritten in place on a terminal."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.hooks = 0
        self.status = "?"
        self.name = ""

    def update(self, event: ServerEvent) -> None:
        data = event.json()
        if event.event == "status":
            self.status, self.name = data["status"], data["name"]
        elif event.event == "hook":
            self.hooks += 1
        elif event.event == DONE_EVENT:
            self.status = data["status"]
        self._show(event)

    def _show(self, event: ServerEvent) -> None:
        text = f"{self.name} {self.status} · {self.hooks} hook run(s)"
        if event.event == "hook":
            data = event.json()
            text += f" · {data['event']} → {data['module']}.{data['handler']} {data['status']}"
        if self.stream.isatty():
            end = "\n" if event.event == DONE_EVENT else ""
            self.stream.write(f"\r\033[K{text}{end}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def follow_to_end(gateway: Gateway, command_id: str, progress: ProgressLine) -> dict[str, Any]:
    """Follow the stream, showing progress; the final command document."""
    for event in gateway.follow(command_id):
        progress.update(event)
        if event.event == DONE_EVENT:
            document: dict[str, Any] = event.json()
            return document
    raise ClientError(f"the stream of command {command_id} ended before the command did")


def print_json(data: Any, stream: TextIO | None = None) -> None:
    (stream or sys.stdout).write(json.dumps(data, indent=2) + "\n")
