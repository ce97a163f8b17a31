"""Webhook signatures as an outside verifier (the ``standardwebhooks`` package) checks them."""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from core.webhooks.signing import (
    SECRET_PREFIX,
    headers,
    message_id,
    new_secret,
    secret_bytes,
    signature,
)

BODY = b'{"type":"wallet.credited","data":{"amount":5}}'
MSG_ID = message_id("evt-1", "ep-1")


def signed(secrets: list[str], body: bytes = BODY) -> tuple[bytes, dict[str, str]]:
    return body, headers(MSG_ID, int(time.time()), body, secrets)


def test_one_secret_verifies_with_the_reference_library() -> None:
    secret = new_secret()
    body, sent = signed([secret])
    assert Webhook(secret).verify(body, sent) == {
        "type": "wallet.credited",
        "data": {"amount": 5},
    }
    assert sent["content-type"] == "application/json"
    assert sent["webhook-id"] == MSG_ID


def test_two_secrets_each_verify_and_sign_in_the_order_given() -> None:
    """During a rotation both the new and the old secret verify; each signs once."""
    new, old = new_secret(), new_secret()
    body, sent = signed([new, old])
    for secret in (new, old):
        Webhook(secret).verify(body, sent, json_parse=False)
    first, second = sent["webhook-signature"].split(" ")
    assert first == signature(MSG_ID, int(sent["webhook-timestamp"]), body, [new])
    assert second == signature(MSG_ID, int(sent["webhook-timestamp"]), body, [old])


def test_a_tampered_body_a_foreign_secret_or_another_id_fail() -> None:
    secret = new_secret()
    body, sent = signed([secret])
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace(b"5", b"6"), sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(body, sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, {**sent, "webhook-id": message_id("evt-2", "ep-1")})


def test_the_signature_is_hmac_sha256_over_id_timestamp_and_body() -> None:
    """A known vector: key of 24 zero bytes, checked by the reference library's signer."""
    secret = SECRET_PREFIX + base64.b64encode(bytes(24)).decode()
    value = signature("msg_1", 1674087231, b"{}", [secret])
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", value)
    reference = Webhook(secret).sign("msg_1", datetime.fromtimestamp(1674087231, tz=UTC), "{}")
    assert value == reference


def test_a_new_secret_is_prefixed_base64_of_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert base64.b64decode(secret.removeprefix("whsec_"), validate=True) == secret_bytes(secret)
    assert len(secret_bytes(secret)) == 32
    assert new_secret() != secret


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("abc", "starts with 'whsec_'"),
        ("whsec_not base64!", "standard base64"),
        ("whsec_" + base64.b64encode(bytes(23)).decode(), "24 to 64 bytes, this one 23"),
        ("whsec_" + base64.b64encode(bytes(65)).decode(), "24 to 64 bytes, this one 65"),
    ],
)
def test_a_malformed_secret_is_refused_without_showing_it(secret: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)) as caught:
        secret_bytes(secret)
    assert secret.removeprefix("whsec_") not in str(caught.value)


def test_signing_needs_a_secret_and_an_id_without_dots() -> None:
    with pytest.raises(ValueError, match="at least one"):
        signature(MSG_ID, 1, BODY, [])
    with pytest.raises(ValueError, match=r"no '\.'"):
        signature("msg_a.b", 1, BODY, [new_secret()])


def test_message_ids_are_stable_per_event_and_endpoint() -> None:
    assert message_id("evt-1", "ep-1") == MSG_ID
    others = {message_id("evt-2", "ep-1"), message_id("evt-1", "ep-2"), MSG_ID}
    assert len(others) == 3
    # The two parts cannot run into each other.
    assert message_id("a", "bc") != message_id("ab", "c")
    assert re.fullmatch(r"msg_[0-9a-f]{32}", MSG_ID)
