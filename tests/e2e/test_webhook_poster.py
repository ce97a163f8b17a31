"""The webhook poster against real loopback servers: the test receiver and raw sockets.

Every request crosses a real socket; the receiver verifies signatures with the
``standardwebhooks`` package. Names are mapped to 127.0.0.1 by resolvers handed to
the guard, which the operator's exception (127.0.0.1) lets through.
"""

from __future__ import annotations

import contextlib
import datetime
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from core.webhooks.addresses import AddressGuard, UnsafeAddress
from core.webhooks.poster import Attempt, WebhookPoster
from core.webhooks.signing import headers, message_id, new_secret
from tests.webhook_receiver import WebhookReceiver, webhook_receiver

pytestmark = pytest.mark.e2e
__all__ = ["webhook_receiver"]

LOOPBACK = "127.0.0.1"
BODY = b'{"type":"wallet.credited","data":{"amount":5}}'


@pytest.fixture
def poster() -> Iterator[WebhookPoster]:
    with WebhookPoster(AddressGuard([LOOPBACK]), timeout_s=2.0) as poster:
        yield poster


def signed(secrets: list[str], event_id: str = "evt-1") -> dict[str, str]:
    return headers(message_id(event_id, "ep-1"), int(time.time()), BODY, secrets)


def post(poster: WebhookPoster, receiver: WebhookReceiver, event_id: str = "evt-1") -> Attempt:
    return poster.post(receiver.url, BODY, signed(receiver.secrets, event_id))


# -- over http -----------------------------------------------------------------------------


def test_a_signed_post_is_verified_by_the_receiver(
    poster: WebhookPoster, webhook_receiver: WebhookReceiver
) -> None:
    attempt = post(poster, webhook_receiver)
    assert attempt.ok and attempt.status_code == 200 and attempt.error is None
    (request,) = webhook_receiver.requests
    assert request.verified_by == webhook_receiver.secrets
    assert request.webhook_id == message_id("evt-1", "ep-1")
    assert request.body == {"type": "wallet.credited", "data": {"amount": 5}}
    assert request.headers["user-agent"] == "Hookline-Webhooks/1"
    assert request.headers["host"] == f"{LOOPBACK}:{webhook_receiver.port}"


def test_while_a_secret_rotates_the_receiver_verifies_with_either(
    poster: WebhookPoster, webhook_receiver: WebhookReceiver
) -> None:
    old, new = webhook_receiver.secrets[0], new_secret()
    sent = signed([new, old])
    assert poster.post(webhook_receiver.url, BODY, sent).ok
    webhook_receiver.secrets = [new]
    assert poster.post(webhook_receiver.url, BODY, sent).ok
    webhook_receiver.secrets = [new_secret()]
    refused = poster.post(webhook_receiver.url, BODY, sent)
    assert refused.status_code == 400 and not refused.ok
    assert [r.verified_by for r in webhook_receiver.requests] == [[old], [new], []]


def test_a_failing_receiver_answers_its_status_then_recovers(
    poster: WebhookPoster, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.fail_first(2, status=503)
    attempts = [post(poster, webhook_receiver) for _ in range(3)]
    assert [a.status_code for a in attempts] == [503, 503, 200]
    assert [a.ok for a in attempts] == [False, False, True]
    assert attempts[0].error is None  # an answer, not a network failure
    assert post(poster, webhook_receiver, event_id="evt-2").status_code == 503


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(
    poster: WebhookPoster, webhook_receiver: WebhookReceiver
) -> None:
    with WebhookReceiver(webhook_receiver.secrets) as elsewhere:
        webhook_receiver.redirect(elsewhere.url)
        attempt = post(poster, webhook_receiver)
        assert attempt.status_code == 302 and not attempt.ok
        assert attempt.error is not None and "redirects are not followed" in attempt.error
        assert [r.status for r in webhook_receiver.requests] == [302]
        assert elsewhere.requests == []


def test_a_receiver_slower_than_the_timeout_is_an_attempt_with_an_error(
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.delay_s = 3.0
    with WebhookPoster(AddressGuard([LOOPBACK]), timeout_s=0.5) as poster:
        attempt = post(poster, webhook_receiver)
    assert attempt.status_code is None and not attempt.ok
    # httpx's read timeout or the request's deadline, whichever comes first: both 0.5 s.
    assert attempt.error is not None and attempt.error.startswith("timed out")
    assert 0.4 < attempt.duration_s < 2.0


def test_the_timeout_bounds_the_whole_request_not_each_read() -> None:
    """A receiver sending its answer a byte at a time, each well within the timeout."""

    def drip(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        for _ in range(200):
            conn.sendall(b"x")
            time.sleep(0.05)

    with raw_server(drip) as port, WebhookPoster(AddressGuard([LOOPBACK]), timeout_s=0.5) as p:
        attempt = p.post(f"http://{LOOPBACK}:{port}/", BODY, signed([new_secret()]))
    assert attempt.status_code is None
    assert attempt.error == "timed out: the whole request took too long"
    assert attempt.duration_s < 2.0


def test_an_endless_response_body_is_not_read_to_its_end(poster: WebhookPoster) -> None:
    def endless(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (4096, b"z" * 4096)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            conn.sendall(chunk)

    with raw_server(endless) as port:
        attempt = poster.post(f"http://{LOOPBACK}:{port}/", BODY, signed([new_secret()]))
    assert attempt.ok and attempt.error is None
    assert attempt.duration_s < 1.5


def test_cookies_a_receiver_sets_are_not_sent_to_the_next(
    poster: WebhookPoster, webhook_receiver: WebhookReceiver
) -> None:
    def set_cookie(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nset-cookie: session=s3cr3t; Path=/\r\n")
        conn.sendall(b"content-length: 0\r\n\r\n")

    with raw_server(set_cookie) as port:
        assert poster.post(f"http://{LOOPBACK}:{port}/", BODY, signed([new_secret()])).ok
    assert post(poster, webhook_receiver).ok
    (request,) = webhook_receiver.requests
    assert "cookie" not in request.headers


def test_a_refused_connection_is_an_attempt_with_an_error(
    poster: WebhookPoster, webhook_receiver: WebhookReceiver
) -> None:
    port = webhook_receiver.port
    webhook_receiver.down()
    attempt = post(poster, webhook_receiver)
    assert attempt.status_code is None and not attempt.ok
    assert attempt.error is not None and attempt.error.startswith("connection failed")
    assert "refused" in attempt.error.lower()
    webhook_receiver.up()
    assert webhook_receiver.port == port
    assert post(poster, webhook_receiver).ok
    assert len(webhook_receiver.requests) == 1


def test_a_host_that_does_not_resolve_is_an_attempt_with_an_error() -> None:
    def nowhere(host: str, port: int) -> list[str]:
        raise OSError("[Errno -2] Name or service not known")

    with WebhookPoster(AddressGuard(resolve=nowhere)) as poster:
        attempt = poster.post("http://gone.test/", BODY, signed([new_secret()]))
    assert attempt.status_code is None
    assert attempt.error is not None and attempt.error.startswith("gone.test does not resolve")


def test_a_url_the_guard_refuses_raises_and_sends_nothing(
    webhook_receiver: WebhookReceiver,
) -> None:
    with WebhookPoster(AddressGuard()) as strict, pytest.raises(UnsafeAddress) as caught:
        post(strict, webhook_receiver)
    assert caught.value.reason == "127.0.0.1 is a loopback address"
    assert webhook_receiver.requests == []


def test_one_poster_serves_threads_at_once(
    poster: WebhookPoster, webhook_receiver: WebhookReceiver
) -> None:
    webhook_receiver.delay_s = 0.2
    with ThreadPoolExecutor(8) as pool:
        attempts = list(pool.map(lambda n: post(poster, webhook_receiver, f"evt-{n}"), range(8)))
    assert all(a.ok for a in attempts)
    # Concurrent, not one after another.
    assert max(a.duration_s for a in attempts) < 8 * 0.2
    assert len({r.webhook_id for r in webhook_receiver.requests}) == 8


def test_the_receiver_waits_for_what_is_to_come(
    poster: WebhookPoster, webhook_receiver: WebhookReceiver
) -> None:
    later = threading.Timer(0.2, post, (poster, webhook_receiver, "evt-late"))
    later.start()
    try:
        (request,) = webhook_receiver.wait_for(lambda requests: len(requests) == 1, 5.0)
    finally:
        later.join()
    assert request.webhook_id == message_id("evt-late", "ep-1")
    assert webhook_receiver.for_id(message_id("evt-late", "ep-1")) == [request]
    with pytest.raises(AssertionError, match=r"waited 0\.1s; it has 1 requests"):
        webhook_receiver.wait_for(lambda requests: len(requests) == 2, 0.1)


# -- the address that was checked ------------------------------------------------------------


def test_the_poster_connects_to_the_address_it_checked(
    webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the name first answers 127.0.0.1 (allowed), then the metadata address.

    Each post resolves the name once, through the guard; the connection goes to the
    address the guard passed, and nothing else looks the name up.
    """
    answers = iter([[LOOPBACK], ["169.254.169.254"]])
    calls: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        calls.append(host)
        return next(answers)

    system_lookups: list[Any] = []
    real_getaddrinfo = socket.getaddrinfo

    def spy(host: Any, *args: Any, **kwargs: Any) -> Any:
        system_lookups.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    url = f"http://rebind.test:{webhook_receiver.port}/webhooks"
    with WebhookPoster(AddressGuard([LOOPBACK], resolve=rebinding)) as poster:
        assert poster.post(url, BODY, signed(webhook_receiver.secrets)).ok
        assert calls == ["rebind.test"]
        assert "rebind.test" not in system_lookups
        (request,) = webhook_receiver.requests
        assert request.headers["host"] == f"rebind.test:{webhook_receiver.port}"
        with pytest.raises(UnsafeAddress, match=r"rebind\.test resolves to 169\.254\.169\.254"):
            poster.post(url, BODY, signed(webhook_receiver.secrets))
    assert calls == ["rebind.test", "rebind.test"]
    assert len(webhook_receiver.requests) == 1


# -- over https --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TLSFiles:
    ca: Path
    cert: Path
    key: Path


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    """A CA of the test's own and a certificate it issued for ``hooks.test``."""
    return make_tls(tmp_path_factory.mktemp("tls"), "hooks.test")


@pytest.fixture
def tls_receiver(tls: TLSFiles) -> Iterator[WebhookReceiver]:
    with WebhookReceiver([new_secret()], tls=(tls.cert, tls.key)) as receiver:
        yield receiver


def to_loopback(host: str, port: int) -> list[str]:
    return [LOOPBACK]


def https_post(receiver: WebhookReceiver, host: str, verify: str | bool) -> Attempt:
    guard = AddressGuard([LOOPBACK], resolve=to_loopback)
    with WebhookPoster(guard, verify=verify, timeout_s=2.0) as poster:
        url = f"https://{host}:{receiver.port}/webhooks"
        return poster.post(url, BODY, signed(receiver.secrets))


def test_https_sends_the_host_name_as_sni_and_verifies_the_certificate(
    tls: TLSFiles, tls_receiver: WebhookReceiver
) -> None:
    attempt = https_post(tls_receiver, "hooks.test", verify=str(tls.ca))
    assert attempt.ok, attempt
    (request,) = tls_receiver.requests
    assert request.sni == "hooks.test"
    assert request.headers["host"] == f"hooks.test:{tls_receiver.port}"
    assert request.verified


def test_https_refuses_a_certificate_its_cas_did_not_issue(tls_receiver: WebhookReceiver) -> None:
    attempt = https_post(tls_receiver, "hooks.test", verify=True)
    assert attempt.status_code is None
    assert attempt.error is not None and "CERTIFICATE_VERIFY_FAILED" in attempt.error
    assert tls_receiver.requests == []


def test_https_checks_the_certificate_against_the_host_name_not_the_address(
    tls: TLSFiles, tls_receiver: WebhookReceiver
) -> None:
    """``other.test`` reaches the same address, but the certificate names ``hooks.test``."""
    attempt = https_post(tls_receiver, "other.test", verify=str(tls.ca))
    assert attempt.status_code is None
    assert attempt.error is not None and "other.test" in attempt.error
    assert tls_receiver.requests == []


# -- helpers ------------------------------------------------------------------------------------


@contextlib.contextmanager
def raw_server(respond: Callable[[socket.socket], None]) -> Iterator[int]:
    """A server on 127.0.0.1 that reads one request and lets ``respond`` write the answer."""
    listener = socket.create_server((LOOPBACK, 0))
    listener.settimeout(5.0)

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                read_request(conn)
                respond(conn)  # until the client goes away: OSError

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(timeout=10.0)
        listener.close()


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += conn.recv(65536)


def make_tls(directory: Path, host: str) -> TLSFiles:
    """Files for a CA and a server certificate for ``host`` signed by it (PEM)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Hookline test CA")])
    ca = (
        _certificate(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    cert = (
        _certificate(name, ca_name, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(ca=False), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TLSFiles(
        ca=directory / "ca.pem", cert=directory / "cert.pem", key=directory / "key.pem"
    )
    files.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
    )


def _key_usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=ca,
        crl_sign=ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
