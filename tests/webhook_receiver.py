"""A webhook receiver for tests: a real HTTP server on 127.0.0.1 that verifies and records.

Every POST is verified with the ``standardwebhooks`` package (an outside verifier,
not Hookline's signer) against each of the receiver's current secrets, and
recorded: its webhook id and timestamp, its parsed JSON body, which secrets
verified it, the status answered and when it came. A request no secret
verifies is answered 400. Controls: ``secrets`` (settable at any time),
``fail_first(n, status)``, ``redirect(location)``, ``delay_s``, ``down()`` and
``up()`` (refused connections meanwhile, the same port after), ``wait_for``.

    with WebhookReceiver([new_secret()]) as receiver: ...

or the ``webhook_receiver`` fixture (one fresh secret, ``receiver.secrets[0]``).
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from core.webhooks.signing import new_secret

HOST = "127.0.0.1"
UNVERIFIED = 400
REDIRECT = 302


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the receiver saw it; ``body`` is the parsed JSON (None if not JSON)."""

    path: str
    webhook_id: str | None
    webhook_timestamp: str | None
    body: Any
    raw_body: bytes
    headers: dict[str, str]  # names in lower case
    verified_by: list[str]  # the receiver's secrets that verified it, in its order
    status: int
    received_at: float  # time.time() when the request came
    sni: str | None  # the TLS server name the client sent (https receivers only)

    @property
    def verified(self) -> bool:
        return bool(self.verified_by)


class WebhookReceiver:
    """The receiver; ``url`` is where to post.

    ``tls``, a certificate chain file and its key file, makes it serve https; each request
    then records the server name (SNI) its client sent.
    """

    def __init__(
        self,
        secrets: Sequence[str] = (),
        *,
        tls: tuple[Path, Path] | None = None,
        path: str = "/webhooks",
    ) -> None:
        self._lock = threading.Condition()
        self._secrets = list(secrets)
        self._server_names: weakref.WeakKeyDictionary[object, str | None] = (
            weakref.WeakKeyDictionary()
        )
        self._ssl_context = None if tls is None else self._tls_context(*tls)
        self._path = path
        self._requests: list[ReceivedRequest] = []
        self._tries: Counter[str] = Counter()
        self._failures = (0, 500)
        self._redirect: str | None = None
        self._delay_s = 0.0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- life ----------------------------------------------------------------------------

    def start(self) -> WebhookReceiver:
        self.up()
        return self

    def stop(self) -> None:
        self.down()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def up(self) -> None:
        """Listen (again, on the same port once it had one)."""
        if self._server is not None:
            return
        server = _Server((HOST, self.port), _Handler)
        server.receiver = self
        server.ssl_context = self._ssl_context
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stop listening: connections are refused until ``up()``."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None and thread is not None:
            server.shutdown()
            server.server_close()
            thread.join()

    @property
    def url(self) -> str:
        scheme = "http" if self._ssl_context is None else "https"
        return f"{scheme}://{HOST}:{self.port}{self._path}"

    # -- controls ------------------------------------------------------------------------

    @property
    def secrets(self) -> list[str]:
        with self._lock:
            return list(self._secrets)

    @secrets.setter
    def secrets(self, secrets: Sequence[str]) -> None:
        with self._lock:
            self._secrets = list(secrets)

    @property
    def delay_s(self) -> float:
        return self._delay_s

    @delay_s.setter
    def delay_s(self, seconds: float) -> None:
        """Wait this long before answering each request (it is recorded when answered)."""
        self._delay_s = seconds

    def fail_first(self, n: int, status: int = 500) -> None:
        """Answer ``status`` to the first ``n`` verified tries of each webhook id."""
        with self._lock:
            self._failures = (n, status)

    def redirect(self, location: str | None) -> None:
        """Answer every verified request 302 to ``location`` (None: stop redirecting)."""
        with self._lock:
            self._redirect = location

    # -- what came -----------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def for_id(self, webhook_id: str) -> list[ReceivedRequest]:
        return [request for request in self.requests if request.webhook_id == webhook_id]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._tries.clear()

    def wait_for(
        self, predicate: Callable[[list[ReceivedRequest]], bool], timeout_s: float = 10.0
    ) -> list[ReceivedRequest]:
        """The requests so far once ``predicate(requests)`` holds; AssertionError at timeout."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while not predicate(list(self._requests)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"the webhook receiver waited {timeout_s}s; it has {self._summary()}"
                    )
                self._lock.wait(left)
            return list(self._requests)

    # -- the handler's side ----------------------------------------------------------------

    def _tls_context(self, certfile: Path, keyfile: Path) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certfile, keyfile)
        context.sni_callback = self._note_server_name
        return context

    def _note_server_name(
        self, connection: object, server_name: str | None, context: object
    ) -> None:
        with self._lock:
            self._server_names[connection] = server_name

    def _server_name(self, connection: object) -> str | None:
        with self._lock:
            return self._server_names.get(connection)

    def _answer(self, headers: dict[str, str], raw_body: bytes) -> _Answer:
        """What to answer a request, and the secrets that verified it; counts the try."""
        verified_by = [s for s in self.secrets if _verifies(s, raw_body, headers)]
        with self._lock:
            if not verified_by:
                return _Answer(UNVERIFIED, verified_by)
            if self._redirect is not None:
                return _Answer(REDIRECT, verified_by, self._redirect)
            webhook_id = headers.get("webhook-id", "")
            self._tries[webhook_id] += 1
            fail_n, fail_status = self._failures
            status = fail_status if self._tries[webhook_id] <= fail_n else 200
            return _Answer(status, verified_by)

    def _record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._requests.append(request)
            self._lock.notify_all()

    def _summary(self) -> str:
        shown = [(r.webhook_id, r.status, r.verified) for r in self._requests]
        return f"{len(shown)} requests (id, status, verified): {shown}"


@dataclass(frozen=True)
class _Answer:
    status: int
    verified_by: list[str]
    location: str | None = None


def _verifies(secret: str, raw_body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(raw_body, headers, json_parse=False)
    except (WebhookVerificationError, ValueError):
        return False
    return True


def _json(raw_body: bytes) -> Any:
    try:
        return json.loads(raw_body)
    except ValueError:
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    receiver: WebhookReceiver
    ssl_context: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.ssl_context is None:
            return sock, address
        # The handshake happens on the handler's first read, in the handler's thread.
        tls = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return tls, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up or refused the certificate: nothing to record


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        received_at = time.time()
        receiver = cast(_Server, self.server).receiver
        raw_body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = receiver._answer(headers, raw_body)
        time.sleep(receiver.delay_s)
        # Recorded before answering: once a client has its answer, the record is there.
        receiver._record(
            ReceivedRequest(
                path=self.path,
                webhook_id=headers.get("webhook-id"),
                webhook_timestamp=headers.get("webhook-timestamp"),
                body=_json(raw_body),
                raw_body=raw_body,
                headers=headers,
                verified_by=answer.verified_by,
                status=answer.status,
                received_at=received_at,
                sni=receiver._server_name(self.connection),
            )
        )
        self._respond(answer.status, answer.location)

    def _respond(self, status: int, location: str | None) -> None:
        self.send_response(status)
        if location is not None:
            self.send_header("location", location)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the records say what came


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A started receiver with one fresh secret, stopped after the test."""
    with WebhookReceiver([new_secret()]) as receiver:
        yield receiver
