"""Sealing credentials for the bus and for Redis: AES-GCM with rotating keys.

The key ring comes from the secret ``bus_seal_key`` (through the secrets chain:
a file ``bus_seal_key`` in a secrets directory, or ``HOOKLINE_BUS_SEAL_KEY``):
one or more ``KEY_ID:KEY`` entries separated by commas or whitespace, where
``KEY`` is 32 bytes in URL-safe base64 (``hookline seal-key`` prints a new
one). The first entry seals; every entry opens, so keys rotate without losing
what is queued: add the new key second everywhere, then move it first, then
drop the old one once nothing sealed with it can still be queued or unread.

A sealed value names its key and is bound to what it belongs to (the
associated data: a command's id and name, or a result's command id), so a
ciphertext moved to another command does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from core.secrets import SecretsChain
from events import ConfigurationError, HooklineError
from events.envelopes import Command, CommandResult, Sealed
from events.sensitive import split_fields

SECRET_NAME = "bus_seal_key"
ENV_NAME = "HOOKLINE_BUS_SEAL_KEY"
KEY_BYTES = 32
NONCE_BYTES = 12
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_SEPARATORS = re.compile(r"[\s,]+")


class SealError(HooklineError):
    """A sealed value that no key of the ring opens: unknown key id, or tampered with."""


@dataclass(frozen=True)
class SealKey:
    key_id: str
    secret: bytes

    def __repr__(self) -> str:  # never show the key
        return f"SealKey({self.key_id!r})"


@dataclass(frozen=True)
class KeyRing:
    """The keys a process seals with (the first) and opens with (all of them)."""

    keys: tuple[SealKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ConfigurationError(f"{SECRET_NAME} holds no key")
        ids = [key.key_id for key in self.keys]
        if len(set(ids)) != len(ids):
            raise ConfigurationError(f"{SECRET_NAME} names a key id twice")

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        entries = [entry for entry in _SEPARATORS.split(text.strip()) if entry]
        return cls(tuple(_parse_entry(entry) for entry in entries))

    @classmethod
    def from_secrets(cls, chain: SecretsChain) -> KeyRing:
        """The ring from the secrets chain; refuses to go on without one, naming the setting."""
        text = chain.lookup(SECRET_NAME)
        if not text:
            raise ConfigurationError(
                f"no bus seal key: set {ENV_NAME} or write a {SECRET_NAME} file into a "
                "secrets directory (`make up` creates .hookline/secrets/bus_seal_key; "
                "`hookline seal-key` prints a new key). Credentials are sealed with it "
                "before they go on the bus or into Redis."
            )
        return cls.parse(text)

    @property
    def sealing_key(self) -> SealKey:
        return self.keys[0]

    def seal(self, data: Mapping[str, Any], bound_to: str) -> Sealed:
        """``data`` as JSON, encrypted with the newest key and bound to ``bound_to``."""
        key = self.sealing_key
        nonce = os.urandom(NONCE_BYTES)
        plaintext = json.dumps(dict(data), separators=(",", ":")).encode()
        sealed = AESGCM(key.secret).encrypt(nonce, plaintext, _aad(key.key_id, bound_to))
        return Sealed(key_id=key.key_id, data=_b64(nonce + sealed))

    def open(self, sealed: Sealed, bound_to: str) -> dict[str, Any]:
        """What ``seal`` sealed; ``SealError`` if no key of the ring opens it."""
        key = self._key(sealed.key_id)
        try:
            raw = base64.urlsafe_b64decode(sealed.data.encode())
            plaintext = AESGCM(key.secret).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(key.key_id, bound_to)
            )
        except (InvalidTag, binascii.Error, ValueError) as e:
            raise SealError(f"a value sealed with key {sealed.key_id!r} does not open") from e
        opened: dict[str, Any] = json.loads(plaintext)
        return opened

    def digest(self, purpose: str, data: str) -> str:
        """A keyed digest of ``data`` (HMAC-SHA256 under a key derived for ``purpose``): it
        compares values without storing anything a guess could be checked against."""
        derived = hmac.new(self.sealing_key.secret, purpose.encode(), hashlib.sha256).digest()
        return hmac.new(derived, data.encode(), hashlib.sha256).hexdigest()

    def _key(self, key_id: str) -> SealKey:
        for key in self.keys:
            if key.key_id == key_id:
                return key
        raise SealError(f"no key {key_id!r} in {SECRET_NAME}; it may have been retired too soon")


def new_key_entry(key_id: str | None = None) -> str:
    """A new ``KEY_ID:KEY`` entry for ``bus_seal_key``."""
    key_id = key_id or secrets.token_hex(4)
    return f"{key_id}:{_b64(os.urandom(KEY_BYTES))}"


def _parse_entry(entry: str) -> SealKey:
    key_id, sep, encoded = entry.partition(":")
    if not sep or not _KEY_ID.match(key_id):
        raise ConfigurationError(
            f"{SECRET_NAME}: each entry is KEY_ID:KEY (key id of letters, digits, - or _)"
        )
    try:
        secret = base64.urlsafe_b64decode(encoded.encode())
    except (binascii.Error, ValueError) as e:
        raise ConfigurationError(f"{SECRET_NAME}: key {key_id!r} is not base64") from e
    if len(secret) != KEY_BYTES:
        raise ConfigurationError(f"{SECRET_NAME}: key {key_id!r} must be {KEY_BYTES} bytes")
    return SealKey(key_id, secret)


def _aad(key_id: str, bound_to: str) -> bytes:
    return f"hookline-seal\n{key_id}\n{bound_to}".encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode()


# -- commands and results -------------------------------------------------------------------


def seal_command(ring: KeyRing, command: Command, sensitive: frozenset[str]) -> Command:
    """``command`` with its ``sensitive`` payload fields moved into ``sealed``."""
    plain, secret = split_fields(command.payload, sensitive)
    if not secret:
        return command
    sealed = ring.seal(secret, _command_binding(command))
    return command.model_copy(update={"payload": plain, "sealed": sealed})


def opened_payload(ring: KeyRing, command: Command) -> dict[str, Any]:
    """The command's whole payload, its sealed fields opened (in the worker that runs it)."""
    if command.sealed is None:
        return dict(command.payload)
    return {**command.payload, **ring.open(command.sealed, _command_binding(command))}


def seal_result(ring: KeyRing, command_id: str, result: CommandResult) -> Sealed | None:
    """The result's sensitive fields sealed for the command's document, if it has any."""
    return ring.seal(result.secret, f"result/{command_id}") if result.secret else None


def open_result(ring: KeyRing, command_id: str, sealed: Sealed) -> dict[str, Any]:
    return ring.open(sealed, f"result/{command_id}")


def _command_binding(command: Command) -> str:
    return f"command/{command.id}/{command.name}"
