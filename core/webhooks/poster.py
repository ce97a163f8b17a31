"""One webhook POST, sent to the address the guard checked.

``WebhookPoster.post`` checks the URL again (a name's addresses change), then
connects to ``Target.address`` itself: the URL's host is replaced by that
address, ``Host`` carries the original host and, for https, TLS sends the host
name as SNI and checks the certificate against it. Nothing resolves the name a
second time, so an answer that changes between the check and the connection
(DNS rebinding) cannot reach another address.

Redirects are not followed (a 3xx is a failed attempt), the whole request has
one deadline, at most 64 KiB of the response body is read, and a network error
or a timeout is an ``Attempt`` with ``error`` set, never an exception. Only a
refused URL raises: ``UnsafeAddress``, for the caller to record.

Connections are not kept alive: the pool keys connections by address and port,
so a kept connection could carry a request for one host name over TLS checked
for another name at the same address.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType
from typing import Any

import httpx

from core.webhooks.addresses import SCHEMES, AddressGuard, HostNotFound, Target

MAX_RESPONSE_BYTES = 64 * 1024
MAX_ERROR_CHARS = 200
# What each kind of failure is called in Attempt.error; the first class that matches wins.
# A timeout is named alone (httpx's text for it is "timed out" again); the others add the
# transport's words, which name no URL and no header.
_TIMEOUTS: tuple[tuple[type[httpx.TimeoutException], str], ...] = (
    (httpx.ConnectTimeout, "timed out connecting"),
    (httpx.WriteTimeout, "timed out sending the request"),
    (httpx.ReadTimeout, "timed out waiting for the answer"),
    (httpx.TimeoutException, "timed out"),
)
_FAILURES: tuple[tuple[type[httpx.TransportError], str], ...] = (
    (httpx.ConnectError, "connection failed"),
    (httpx.RemoteProtocolError, "the receiver broke the HTTP protocol"),
    (httpx.NetworkError, "network error"),
)


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: the status answered, or ``error`` when no answer came.

    ``duration_s`` runs from the call to its end, the host's lookup included.
    """

    status_code: int | None
    duration_s: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookPoster:
    """Posts webhooks through one ``httpx.Client`` (thread-safe); ``close()`` when done.

    ``verify`` is what certificates are verified with: ``True`` (the system's CAs), an
    ``ssl.SSLContext``, or the path of a CA bundle trusted instead of the system's. Cookies
    a receiver sets are never kept: they would be sent to other endpoints at its address.
    """

    def __init__(
        self,
        guard: AddressGuard,
        *,
        timeout_s: float = 15.0,
        user_agent: str = "Hookline-Webhooks/1",
        verify: ssl.SSLContext | str | bool = True,
    ) -> None:
        self._guard = guard
        self._timeout_s = timeout_s
        self._user_agent = user_agent
        self._client = httpx.Client(
            verify=ssl.create_default_context(cafile=verify) if isinstance(verify, str) else verify,
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            trust_env=False,  # no proxy or .netrc from the environment
            cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),  # none kept
        )

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Attempt:
        """POST ``body`` to ``url``; ``UnsafeAddress`` if the guard refuses it."""
        started = time.monotonic()
        try:
            target = self._guard.check(url)
        except HostNotFound as exc:
            return Attempt(None, time.monotonic() - started, _short(exc.reason))
        deadline = _Deadline(self._timeout_s)
        try:
            status = self._send(target, body, headers, deadline)
        except httpx.TransportError as exc:
            return Attempt(None, time.monotonic() - started, _failure(exc, deadline))
        finally:
            deadline.cancel()
        error = "redirects are not followed: update the URL" if 300 <= status < 400 else None
        return Attempt(status, time.monotonic() - started, error)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> WebhookPoster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _send(
        self, target: Target, body: bytes, headers: Mapping[str, str], deadline: _Deadline
    ) -> int:
        request = self._client.build_request(
            "POST",
            httpx.URL(target.url).copy_with(host=target.address),
            content=body,
            headers=self._headers(target, headers),
            extensions=_extensions(target, deadline),
        )
        response = self._client.send(request, stream=True)
        try:
            _drain(response)
        finally:
            response.close()
        return response.status_code

    def _headers(self, target: Target, headers: Mapping[str, str]) -> httpx.Headers:
        sent = httpx.Headers(headers)
        sent["user-agent"] = self._user_agent
        sent["host"] = _host_header(target)
        sent["connection"] = "close"
        return sent


class _Deadline:
    """Ends a request at its deadline: shuts its connection down, which wakes a blocked read.

    httpx's timeouts bound each read and write, not their sum: a receiver answering one
    byte at a time would hold a request for as long as it liked. The deadline keeps a
    duplicate of the connection's socket, which a TLS wrap leaves untouched, and closes
    it when the request is over.
    """

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._over = False
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's trace hook: keep hold of the connection once it is made."""
        if event != "connection.connect_tcp.complete":
            return
        with self._lock:
            if self._over:
                return
            self._sock = info["return_value"].get_extra_info("socket").dup()
            if self.expired:
                _shut(self._sock)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._over = True
            if self._sock is not None:
                self._sock.close()

    def _expire(self) -> None:
        with self._lock:
            if self._over:
                return
            self.expired = True
            if self._sock is not None:
                _shut(self._sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # not connected any more: the peer closed first
        sock.shutdown(socket.SHUT_RDWR)


def _extensions(target: Target, deadline: _Deadline) -> dict[str, Any]:
    extensions: dict[str, Any] = {"trace": deadline.trace}
    if target.scheme == "https":
        extensions["sni_hostname"] = target.host
    return extensions


def _host_header(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    return host if target.port == SCHEMES[target.scheme] else f"{host}:{target.port}"


def _drain(response: httpx.Response) -> None:
    """Read up to 64 KiB of the body; what the receiver sends after (or fails to) is moot."""
    read = 0
    try:
        for chunk in response.iter_raw():
            read += len(chunk)
            if read >= MAX_RESPONSE_BYTES:
                return
    except httpx.TransportError:
        return


def _failure(exc: httpx.TransportError, deadline: _Deadline) -> str:
    """Short text for a failed request: its kind, and the transport's words if not a timeout."""
    if deadline.expired:
        return "timed out: the whole request took too long"
    timeout = next((text for cls, text in _TIMEOUTS if isinstance(exc, cls)), None)
    if timeout is not None:
        return timeout
    kind = next((text for cls, text in _FAILURES if isinstance(exc, cls)), "transport error")
    detail = str(exc)
    return _short(f"{kind}: {detail}" if detail else kind)


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"
