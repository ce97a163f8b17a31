"""The caller's address: X-Forwarded-For believed only from trusted proxies, right to left."""

from __future__ import annotations

import pytest
from starlette.requests import Request

from api_gateway.client_ip import client_ip, trusted_networks

PROXIES = trusted_networks(["10.0.0.1", "10.1.0.0/16"])


def request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return Request({"type": "http", "client": (peer, 40000), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", ["1.2.3.4"], "203.0.113.9"),  # untrusted peer: header ignored
        ("10.0.0.1", ["198.51.100.7"], "198.51.100.7"),  # trusted proxy: its word
        ("10.0.0.1", ["6.6.6.6, 198.51.100.7"], "198.51.100.7"),  # client's prefix ignored
        ("10.0.0.1", ["198.51.100.7, 10.1.2.3"], "198.51.100.7"),  # chained trusted proxies
        ("10.0.0.1", ["6.6.6.6", "198.51.100.7"], "198.51.100.7"),  # header sent twice
        ("10.0.0.1", [], "10.0.0.1"),  # nothing forwarded: the proxy itself
        ("10.0.0.1", ["not-an-address"], "10.0.0.1"),  # garbage: not believed
        ("10.0.0.1", ["2001:db8::1"], "2001:db8::1"),
    ],
)
def test_client_ip(peer: str, forwarded: list[str], expected: str) -> None:
    """The first untrusted hop from the right is the client; a spoofed prefix never counts."""
    assert client_ip(request(peer, *forwarded), PROXIES) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    """With no proxies configured, X-Forwarded-For is never read."""
    assert client_ip(request("10.0.0.1", "198.51.100.7"), ()) == "10.0.0.1"
