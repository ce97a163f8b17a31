"""Standard Webhooks signatures (symmetric, ``v1``): what a receiver verifies.

An endpoint's secret is ``whsec_`` followed by standard base64 of 24 to 64
random bytes; Hookline makes 32. A delivery is signed over
``{webhook-id}.{webhook-timestamp}.{body}`` with HMAC-SHA256, once per current
secret, and the signatures travel space-separated in ``webhook-signature`` so a
receiver keeps verifying while its secret rotates. The webhook id is the same
for every attempt at one event for one endpoint: receivers use it to drop
duplicates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from secrets import token_bytes

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
MESSAGE_ID_PREFIX = "msg_"
SIGNATURE_VERSION = "v1"
CONTENT_TYPE = "application/json"


def new_secret() -> str:
    """A fresh endpoint secret: ``whsec_`` and 32 random bytes in standard base64."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode("ascii")


def secret_bytes(secret: str) -> bytes:
    """The HMAC key a secret stands for; ``ValueError`` says what is wrong (never the secret)."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is standard base64 after its prefix") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"a webhook secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, "
            f"this one {len(key)}"
        )
    return key


def message_id(event_id: str, endpoint_id: str) -> str:
    """The webhook id of one event for one endpoint: the same on every attempt, no dots."""
    digest = hashlib.sha256(json.dumps([event_id, endpoint_id]).encode()).hexdigest()
    return MESSAGE_ID_PREFIX + digest[:32]


def signature(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per secret, in the order given."""
    if "." in msg_id:
        raise ValueError("a webhook id has no '.' (it delimits the signed content)")
    if not secrets:
        raise ValueError("signing needs at least one webhook secret")
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(_sign(secret_bytes(secret), signed) for secret in secrets)


def headers(msg_id: str, timestamp: int, body: bytes, secrets: Sequence[str]) -> dict[str, str]:
    """The headers of a delivery: id, timestamp, signature and the JSON content type."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(msg_id, timestamp, body, secrets),
        "content-type": CONTENT_TYPE,
    }


def _sign(key: bytes, signed: bytes) -> str:
    mac = hmac.new(key, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(mac).decode('ascii')}"
