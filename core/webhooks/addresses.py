"""The SSRF guard: a webhook goes only to public addresses, unless an operator allows more.

``AddressGuard.check`` parses a URL with httpx (the parser the poster sends
with, so the two never disagree about the host), resolves its host once and
refuses it unless every address it resolves to is public: loopback, private,
link-local, cloud metadata, shared (CGNAT), unspecified, multicast, broadcast
and reserved addresses are refused, and so are IPv6 forms that embed such an
IPv4 address (IPv4-mapped, 6to4, NAT64). The operator's exceptions
(``HOOKLINE_WEBHOOKS_ALLOWED_HOSTS``: host names, addresses, networks) let a
host or an address through. The ``Target`` it returns names the address to
connect to, so nothing resolves the name again between the check and the
connection.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import httpx

Resolver = Callable[[str, int], list[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = {"http": 80, "https": 443}
MAX_PORT = 65535
# Cloud instance metadata services (AWS, GCP and Azure IMDS; AWS over IPv6; Alibaba; Azure's
# wire server, which is a public address and so would pass every other test).
METADATA = frozenset(
    ipaddress.ip_address(text)
    for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "168.63.129.16")
)
SHARED = ipaddress.ip_network("100.64.0.0/10")
BROADCAST = ipaddress.ip_address("255.255.255.255")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NETWORK_LIKE = re.compile(r"[0-9a-f:.]+/[0-9]+")
_HOST_NAME = re.compile(rf"(?=.{{1,254}}$){_LABEL}(?:\.{_LABEL})*\.?")

# The first test an address meets names it in the refusal.
_UNSAFE: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("a cloud metadata address", lambda ip: ip in METADATA),
    ("a loopback address", lambda ip: ip.is_loopback),
    ("a link-local address", lambda ip: ip.is_link_local),
    ("a shared (CGNAT) address", lambda ip: ip in SHARED),
    ("the unspecified address", lambda ip: ip.is_unspecified),
    ("a multicast address", lambda ip: ip.is_multicast),
    ("the broadcast address", lambda ip: ip == BROADCAST),
    ("a reserved address", lambda ip: ip.is_reserved),
    ("a private address", lambda ip: ip.is_private),
    ("not a public address", lambda ip: not ip.is_global),
)


class UnsafeAddress(Exception):
    """A URL a webhook must not go to; ``reason`` says why, naming the host or the address."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HostNotFound(UnsafeAddress):
    """The host does not resolve (now), so there is nothing to check or to connect to.

    Unlike the other refusals this one can pass: the poster turns it into a failed attempt.
    """


@dataclass(frozen=True)
class Target:
    """A checked URL: ``host`` is its ASCII host name or address, ``address`` the one to dial."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for a TCP connection to host and port, in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class AddressGuard:
    """Checks webhook URLs; ``allowed`` holds host names, addresses and networks let through."""

    def __init__(self, allowed: Sequence[str] = (), resolve: Resolver = system_resolver) -> None:
        self._names, self._networks = _parse_allowed(allowed)
        self._resolve = resolve

    @classmethod
    def from_setting(cls, text: str) -> AddressGuard:
        """The guard for a comma-separated setting; ``ValueError`` names an entry that is junk."""
        return cls([entry for entry in text.split(",") if entry.strip()])

    def check(self, url: str) -> Target:
        """The target of ``url`` if it may be called; ``UnsafeAddress`` otherwise."""
        parsed = _parse(url)
        scheme, host, port = _scheme(parsed), _host(parsed), _port(parsed)
        addresses = self._addresses(host, port)
        if host.rstrip(".") not in self._names:
            for address in addresses:
                self._refuse_unsafe(host, address)
        return Target(url=url, scheme=scheme, host=host, port=port, address=str(addresses[0]))

    def _addresses(self, host: str, port: int) -> list[IPAddress]:
        literal = _literal(host)
        if literal is not None:
            return [literal]
        try:
            resolved = self._resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise HostNotFound(f"{host} does not resolve: {exc}") from None
        if not resolved:
            raise HostNotFound(f"{host} resolves to no address")
        return [_resolved_address(host, text) for text in resolved]

    def _refuse_unsafe(self, host: str, address: IPAddress) -> None:
        embedded = _embedded_ipv4(address)
        judged = address if embedded is None else embedded
        if self._allows(address) or self._allows(judged):
            return
        kind = next((kind for kind, unsafe in _UNSAFE if unsafe(judged)), None)
        if kind is None:
            return
        shown = str(address) if embedded is None else f"{address} (which embeds {embedded})"
        subject = shown if _literal(host) is not None else f"{host} resolves to {shown}, which"
        raise UnsafeAddress(f"{subject} is {kind}")

    def _allows(self, address: IPAddress) -> bool:
        return any(address in network for network in self._networks)


def _parse(url: str) -> httpx.URL:
    try:
        return httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UnsafeAddress(f"not a valid URL: {exc}") from None


def _scheme(url: httpx.URL) -> str:
    if url.scheme not in SCHEMES:
        raise UnsafeAddress(f"scheme {url.scheme!r} is not allowed: a webhook URL is http or https")
    if url.userinfo:
        raise UnsafeAddress("a webhook URL carries no user name or password")
    return url.scheme


def _host(url: httpx.URL) -> str:
    host = url.raw_host.decode("ascii").lower()
    if not host:
        raise UnsafeAddress("a webhook URL names a host")
    if _literal(host) is None and not _HOST_NAME.fullmatch(host):
        raise UnsafeAddress(f"{host!r} is not a host name")
    return host


def _port(url: httpx.URL) -> int:
    port = url.port if url.port is not None else SCHEMES[url.scheme]
    if not 0 < port <= MAX_PORT:
        raise UnsafeAddress(f"port {port} is out of range")
    return port


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolved_address(host: str, text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise HostNotFound(f"{host} resolves to {text!r}, which is not an address") from None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (IPv4-mapped, 6to4, NAT64), if any."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.ipv4_mapped or address.sixtofour


def _parse_allowed(entries: Iterable[str]) -> tuple[frozenset[str], tuple[IPNetwork, ...]]:
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        text = entry.strip().lower()
        network = _network(text)
        if network is not None:
            networks.append(network)
        elif _HOST_NAME.fullmatch(text):
            names.add(text.rstrip("."))
        else:
            raise ValueError(
                f"allowed webhook host {entry.strip()!r} "
                "is not a host name, an address or a network"
            )
    return frozenset(names), tuple(networks)


def _network(text: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(text)
    except ValueError as exc:
        if _NETWORK_LIKE.fullmatch(text):
            raise ValueError(f"allowed webhook network {text!r}: {exc}") from None
        return None
