"""A TCP proxy on loopback that can let requests through and swallow the replies.

Put between the gateway and the broker, it makes the worst moment of a publish
happen on demand: the broker stores the message, and the gateway never hears so.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

CHUNK = 65536


class ReplyDroppingProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream``; while dropping, replies are discarded."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._dropping = threading.Event()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._closed = False
        self.dropped_bytes = 0

    def __enter__(self) -> ReplyDroppingProxy:
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closed = True
        self._listener.close()
        self._close_connections()

    def url_like(self, url: str) -> str:
        """``url`` (a broker's) pointing at this proxy instead."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def drop_replies(self) -> None:
        """From now on requests reach the server, replies never reach the client."""
        self._dropping.set()

    def pass_replies(self) -> None:
        """Forward replies again; connections that lost replies are closed (out of step)."""
        self._close_connections()
        self._dropping.clear()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self._upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, server]
            self._pump(client, server, replies=False)
            self._pump(server, client, replies=True)

    def _pump(self, source: socket.socket, target: socket.socket, replies: bool) -> None:
        def run() -> None:
            with contextlib.suppress(OSError):
                while chunk := source.recv(CHUNK):
                    if replies and self._dropping.is_set():
                        self.dropped_bytes += len(chunk)
                        continue
                    target.sendall(chunk)
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.close()

        threading.Thread(target=run, name="proxy-pump", daemon=True).start()

    def _close_connections(self) -> None:
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                connection.close()
