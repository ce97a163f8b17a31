"""The caller's address: the peer, or what trusted proxies say in X-Forwarded-For.

X-Forwarded-For is believed only when the peer is a configured trusted proxy.
Walking the header from the right, trusted proxies are skipped; the first
address that is not one is the client. Anything a client wrote further left is
never reached, so a spoofed entry changes nothing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.requests import Request

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


def trusted_networks(entries: Iterable[str]) -> tuple[IpNetwork, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def client_ip(request: Request, trusted: tuple[IpNetwork, ...]) -> str:
    peer = request.client.host if request.client else UNKNOWN
    if not trusted or not _is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for v in request.headers.getlist("x-forwarded-for") for h in v.split(",")]
    for hop in reversed(hops):
        if not _is_trusted(hop, trusted):
            return hop if _is_address(hop) else peer
    return peer


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _is_trusted(value: str, trusted: tuple[IpNetwork, ...]) -> bool:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return any(address in network for network in trusted)


def is_trusted(value: str, trusted: tuple[IpNetwork, ...]) -> bool:
    """``value`` is the address of a trusted proxy."""
    return _is_trusted(value, trusted)
