"""Pure pieces of the console: the Secure flag follows TLS (a trusted proxy's word
included), CSRF tokens compare in constant time and refuse anything but the token."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api_gateway.client_ip import trusted_networks
from api_gateway.console.sessions import COOKIE, csrf_matches, is_tls, set_cookie

PROXY = trusted_networks(["10.0.0.5"])


def request(scheme: str, peer: str, headers: dict[str, str] | None = None) -> Request:
    return Request(
        {
            "type": "http",
            "scheme": scheme,
            "method": "GET",
            "path": "/console/",
            "headers": [(k.encode(), v.encode()) for k, v in (headers or {}).items()],
            "client": (peer, 40000),
            "server": ("hookline", 443),
        }
    )


def test_tls_is_the_scheme_or_a_trusted_proxys_forwarded_proto() -> None:
    assert is_tls(request("https", "192.0.2.1"), ())
    assert not is_tls(request("http", "192.0.2.1"), ())
    forwarded = {"x-forwarded-proto": "https"}
    assert is_tls(request("http", "10.0.0.5", forwarded), PROXY)
    assert not is_tls(request("http", "192.0.2.1", forwarded), PROXY)  # anyone can send it


def test_the_cookie_is_secure_over_tls_and_always_httponly_and_strict() -> None:
    for secure in (True, False):
        response = Response()
        set_cookie(response, COOKIE, "id", 60, secure=secure)
        flags = [p.strip().lower() for p in response.headers["set-cookie"].split(";")]
        assert "httponly" in flags and "samesite=strict" in flags and "path=/console" in flags
        assert ("secure" in flags) is secure


def test_csrf_matches_only_the_token() -> None:
    assert csrf_matches("abc", "abc")
    for given in ("abd", "", None, ["abc"], "abc "):
        assert not csrf_matches("abc", given)
