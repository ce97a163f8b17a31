"""Sealing with a rotating key ring: what seals, what opens, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.sealing import (
    KeyRing,
    SealError,
    new_key_entry,
    open_result,
    opened_payload,
    seal_command,
    seal_result,
)
from core.secrets import SecretsChain
from events import Command, CommandResult, ConfigurationError
from modules.user_management.models import TokenPair

OLD, NEW = new_key_entry("old"), new_key_entry("new")
PASSWORD = frozenset({"password"})


def login(ring: KeyRing) -> Command:
    command = Command(name="user_management.login", payload={"email": "a@b.c", "password": "pw"})
    return seal_command(ring, command, PASSWORD)


def test_sensitive_fields_leave_the_payload_and_open_in_the_worker() -> None:
    """The envelope holds the email and a ciphertext; the opened payload is the request."""
    ring = KeyRing.parse(NEW)
    sealed = login(ring)
    assert sealed.payload == {"email": "a@b.c"}
    assert sealed.sealed is not None and sealed.sealed.key_id == "new"
    assert "pw" not in sealed.model_dump_json()
    assert opened_payload(ring, sealed) == {"email": "a@b.c", "password": "pw"}


def test_a_command_without_sensitive_fields_is_left_as_it_is() -> None:
    command = Command(name="wallet.deposit", payload={"amount": 5})
    assert seal_command(KeyRing.parse(NEW), command, frozenset()) is command


def test_after_rotation_the_new_key_seals_and_the_old_still_opens() -> None:
    """Queued under the old key, opened by workers that list it after the new one."""
    queued = login(KeyRing.parse(OLD))
    rotated = KeyRing.parse(f"{NEW},{OLD}")
    assert opened_payload(rotated, queued)["password"] == "pw"
    assert login(rotated).sealed.key_id == "new"  # type: ignore[union-attr]


def test_a_retired_key_or_a_moved_ciphertext_does_not_open() -> None:
    """Unknown key id, another command's id, a flipped byte: SealError, never garbage."""
    queued = login(KeyRing.parse(OLD))
    with pytest.raises(SealError, match="no key 'old'"):
        opened_payload(KeyRing.parse(NEW), queued)
    ring = KeyRing.parse(OLD)
    moved = queued.model_copy(update={"id": "another"})
    with pytest.raises(SealError):
        opened_payload(ring, moved)
    assert queued.sealed is not None
    data = queued.sealed.data
    flipped = data[:-3] + ("A" if data[-3] != "A" else "B") + data[-2:]
    tampered = queued.model_copy(
        update={"sealed": queued.sealed.model_copy(update={"data": flipped})}
    )
    with pytest.raises(SealError):
        opened_payload(ring, tampered)


def test_result_secrets_are_kept_apart_and_bound_to_their_command() -> None:
    """CommandResult.of splits a TokenPair; the sealed part opens only for its command."""
    ring = KeyRing.parse(NEW)
    pair = TokenPair(access_token="a" * 20, refresh_token="r" * 20, expires_in=900)
    result = CommandResult.of(pair)
    assert result.body == {"token_type": "Bearer", "expires_in": 900}
    assert "a" * 20 not in result.model_dump_json() and "a" * 20 not in repr(result)
    sealed = seal_result(ring, "c1", result)
    assert sealed is not None
    assert open_result(ring, "c1", sealed) == {"access_token": "a" * 20, "refresh_token": "r" * 20}
    with pytest.raises(SealError):
        open_result(ring, "c2", sealed)
    assert seal_result(ring, "c1", CommandResult(body={"balance": 1})) is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no key"),
        ("nokey", "KEY_ID:KEY"),
        ("bad id!:AAAA", "KEY_ID:KEY"),
        ("k1:not*base64", "not base64"),
        ("k1:AAAA", "must be 32 bytes"),
        (f"{NEW},{NEW}", "names a key id twice"),
    ],
)
def test_a_malformed_ring_is_refused_naming_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        KeyRing.parse(text)


def test_no_key_anywhere_names_the_setting(tmp_path: Path) -> None:
    """A process without a key is told which setting to set and how to make a key."""
    with pytest.raises(ConfigurationError, match="HOOKLINE_BUS_SEAL_KEY") as raised:
        KeyRing.from_secrets(SecretsChain(tmp_path, tmp_path, tmp_path, environ={}))
    assert "hookline seal-key" in str(raised.value)
    chain = SecretsChain(tmp_path, tmp_path, tmp_path, environ={"HOOKLINE_BUS_SEAL_KEY": NEW})
    ring = KeyRing.from_secrets(chain)
    assert ring.sealing_key.key_id == "new" and "new:" not in repr(ring)
