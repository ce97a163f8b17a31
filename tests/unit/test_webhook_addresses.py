"""The SSRF guard: what it refuses, what an operator's exception lets through, what it returns.

Resolvers are injected (a table of names), so nothing here touches DNS.
"""

from __future__ import annotations

import re

import pytest

from core.webhooks.addresses import AddressGuard, HostNotFound, Target, UnsafeAddress

NAMES = {
    "hooks.example": ["93.184.215.14"],
    "v6.example": ["2606:4700::1111"],
    "loopback.example": ["127.0.0.1"],
    "mixed.example": ["93.184.215.14", "10.0.0.1"],
    "internal.corp": ["10.1.2.3"],
}


class Resolver:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        host = host.removesuffix(".")  # a fully qualified name is the same name
        if host not in NAMES:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return NAMES[host]


def guard(*allowed: str) -> AddressGuard:
    return AddressGuard(allowed, resolve=Resolver())


def refusal(url: str, *allowed: str) -> str:
    with pytest.raises(UnsafeAddress) as caught:
        guard(*allowed).check(url)
    return caught.value.reason


def test_a_public_name_gives_its_address_host_and_port() -> None:
    resolver = Resolver()
    target = AddressGuard(resolve=resolver).check("https://Hooks.Example/in?x=1")
    assert target == Target(
        url="https://Hooks.Example/in?x=1",
        scheme="https",
        host="hooks.example",
        port=443,
        address="93.184.215.14",
    )
    assert resolver.calls == [("hooks.example", 443)]


def test_public_literals_and_ipv6_names_pass() -> None:
    assert guard().check("http://93.184.215.14:8080/").port == 8080
    assert guard().check("http://v6.example/").address == "2606:4700::1111"
    assert guard().check("http://[2606:4700::1111]/").host == "2606:4700::1111"
    # NAT64 and 6to4 forms of a public address are public.
    assert guard().check("http://[64:ff9b::808:808]/").address == "64:ff9b::808:808"
    assert guard().check("http://[2002:808:808::1]/").address == "2002:808:808::1"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://127.0.0.1:8000/hook", "127.0.0.1 is a loopback address"),
        ("http://[::1]/", "::1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
        ("http://100.100.100.200/", "100.100.100.200 is a cloud metadata address"),
        ("http://169.254.1.1/", "169.254.1.1 is a link-local address"),
        ("http://[fe80::1]/", "fe80::1 is a link-local address"),
        ("http://10.0.0.1/", "10.0.0.1 is a private address"),
        ("http://172.16.5.4/", "172.16.5.4 is a private address"),
        ("http://192.168.1.1/", "192.168.1.1 is a private address"),
        ("http://[fc00::1]/", "fc00::1 is a private address"),
        ("http://[fd12:3456::1]/", "fd12:3456::1 is a private address"),
        ("http://100.64.0.1/", "100.64.0.1 is a shared (CGNAT) address"),
        ("http://0.0.0.0/", "0.0.0.0 is the unspecified address"),
        ("http://[::]/", ":: is the unspecified address"),
        ("http://224.0.0.1/", "224.0.0.1 is a multicast address"),
        ("http://[ff02::1]/", "ff02::1 is a multicast address"),
        ("http://255.255.255.255/", "255.255.255.255 is the broadcast address"),
        ("http://240.0.0.1/", "240.0.0.1 is a reserved address"),
        ("http://192.0.2.1/", "192.0.2.1 is a private address"),  # documentation range
        ("http://[2001:db8::1]/", "2001:db8::1 is a private address"),
        ("http://[::ffff:127.0.0.1]/", "(which embeds 127.0.0.1) is a loopback address"),
        ("http://[::ffff:169.254.169.254]/", "embeds 169.254.169.254) is a cloud metadata"),
        ("http://[2002:a00:1::]/", "2002:a00:1:: (which embeds 10.0.0.1) is a private address"),
        ("http://[64:ff9b::7f00:1]/", "(which embeds 127.0.0.1) is a loopback address"),
    ],
)
def test_each_non_public_address_is_refused_with_its_kind(url: str, reason: str) -> None:
    assert reason in refusal(url)


def test_a_name_resolving_to_loopback_is_refused_naming_both() -> None:
    assert refusal("http://loopback.example/") == (
        "loopback.example resolves to 127.0.0.1, which is a loopback address"
    )


def test_every_address_of_a_name_must_be_public() -> None:
    """One public and one private answer: refused (a client may use either)."""
    assert refusal("https://mixed.example/") == (
        "mixed.example resolves to 10.0.0.1, which is a private address"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://hooks.example/", "scheme 'ftp' is not allowed"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        ("gopher://hooks.example/", "scheme 'gopher' is not allowed"),
        ("http://user:hunter2@hooks.example/", "carries no user name or password"),
        ("http://user@hooks.example/", "carries no user name or password"),
        ("http:///path", "names a host"),
        ("/relative/path", "scheme '' is not allowed"),
        ("http://hooks.example:0/", "port 0 is out of range"),
        ("http://hooks.example:65536/", "port 65536 is out of range"),
        ("http://hooks example/", "is not a host name"),
        ("http://[::1/", "not a valid URL"),
    ],
)
def test_urls_that_are_not_plain_http_are_refused(url: str, reason: str) -> None:
    text = refusal(url)
    assert reason in text
    assert "hunter2" not in text


def test_a_host_that_does_not_resolve_is_a_host_not_found() -> None:
    with pytest.raises(HostNotFound, match=r"nowhere\.example does not resolve"):
        guard().check("http://nowhere.example/")
    empty = AddressGuard(resolve=lambda host, port: [])
    with pytest.raises(HostNotFound, match="resolves to no address"):
        empty.check("http://hooks.example/")


def test_an_allowed_address_or_network_lets_that_address_through() -> None:
    assert guard("127.0.0.1").check("http://127.0.0.1:8000/").address == "127.0.0.1"
    assert guard("127.0.0.1").check("http://loopback.example/").address == "127.0.0.1"
    assert guard("10.1.0.0/16").check("http://internal.corp/").address == "10.1.2.3"
    # The exception is that address (or network), not everything non-public.
    assert "10.0.0.1 is a private address" in refusal("http://10.0.0.1/", "127.0.0.1")
    assert "::1 is a loopback address" in refusal("http://[::1]/", "127.0.0.1")


def test_an_allowed_name_lets_that_host_through_whatever_it_resolves_to() -> None:
    assert guard("internal.corp").check("https://internal.corp/").address == "10.1.2.3"
    assert guard("INTERNAL.corp.").check("https://internal.corp./").address == "10.1.2.3"
    assert "loopback.example resolves to 127.0.0.1" in refusal(
        "http://loopback.example/", "internal.corp"
    )


def test_the_setting_is_a_comma_separated_list() -> None:
    allowed = AddressGuard.from_setting(" localhost, 127.0.0.1 ,10.1.0.0/16,,")
    assert allowed.check("http://10.1.9.9/").address == "10.1.9.9"
    assert allowed.check("http://127.0.0.1/").address == "127.0.0.1"
    assert "127.0.0.2 is a loopback address" in refusal("http://127.0.0.2/", "localhost")
    nothing = AddressGuard.from_setting("")
    with pytest.raises(UnsafeAddress):
        nothing.check("http://127.0.0.1/")


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("localhost, http://x", "'http://x' is not a host name, an address or a network"),
        ("*", "'*' is not a host name"),
        ("10.0.0.0/33", "network '10.0.0.0/33'"),
        ("10.1.0.1/16", "has host bits set"),
        ("bad host", "'bad host' is not a host name"),
    ],
)
def test_junk_in_the_setting_is_a_value_error_naming_the_entry(setting: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        AddressGuard.from_setting(setting)
