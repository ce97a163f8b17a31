"""``Idempotency-Key`` (draft-ietf-httpapi-idempotency-key-header): one command per key.

A key is scoped to the caller and the route (the command name): the same key from
two callers, or on two routes, stands for two commands. The first request with a
key claims it in Redis (set-if-absent, expiring ``ttl_s`` after that first use)
for its command id, together with a fingerprint of the request. A later request
with the same key and fingerprint is answered from that command (see
``commands.follow``); with another fingerprint it is refused with 422.

A claim whose request never got its command accepted is released (compare-and-
delete: only while it still names that command). One left behind anyway (Redis
did not answer the release, or the gateway died in between) names a command
that never runs: refused (its request was answered 503), or never recorded at
all, which is sure once the claim is ``ABANDONED_AFTER_S`` old. The next request
with the key takes such a claim over and submits its own command.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

import redis.asyncio
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request

from api_gateway.errors import BadRequest
from core import keys, scripts
from core.sealing import KeyRing, opened_payload
from events import Command, InvalidInput

HEADER = "idempotency-key"
FIELD = "Idempotency-Key"
MAX_KEY_CHARS = 255
# A bare key (as most clients send one): visible ASCII but the quote, the backslash and the
# comma (with which a proxy joins repeated fields).
BARE_KEY = r"[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]" f"{{1,{MAX_KEY_CHARS}}}"
# The draft's form, an RFC 8941 sf-string: printable ASCII in quotes, \" and \\ escaped.
_STRING_CHAR = r"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x22\x5c])"
QUOTED_KEY = f'"{_STRING_CHAR}{{1,{MAX_KEY_CHARS}}}"'
# What OpenAPI publishes; the same rules as ``parse_key`` (a test holds them together).
KEY_PATTERN = f"^(?:{BARE_KEY}|{QUOTED_KEY})$"
_QUOTED = re.compile(f'"({_STRING_CHAR}*)"')
_BARE = re.compile(BARE_KEY)
_ESCAPE = re.compile(r"\\([\x22\x5c])")
# Longer than the longest a request can take from claiming its key to having its command
# recorded as accepted (a Redis call, then the publisher's trips, each bounded by the
# store and broker timeouts): a claim this old without a command was left behind.
ABANDONED_AFTER_S = 120

# KEYS: the record. ARGV: command id, fingerprint, ttl. Returns false once claimed, else
# the earlier claim: its command id, fingerprint and age in seconds (Redis's clock).
_CLAIM = """
local now = redis.call('TIME')[1]
local earlier = redis.call('HMGET', KEYS[1], 'command_id', 'fingerprint', 'claimed_at')
if earlier[1] then return {earlier[1], earlier[2], now - tonumber(earlier[3] or now)} end
redis.call('HSET', KEYS[1], 'command_id', ARGV[1], 'fingerprint', ARGV[2], 'claimed_at', now)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return false
"""

# KEYS: the record. ARGV: the abandoned command id, the new one, fingerprint, ttl. 1 if
# claimed: the record still named the abandoned command, or was released meanwhile.
_TAKE_OVER = """
local current = redis.call('HGET', KEYS[1], 'command_id')
if current and current ~= ARGV[1] then return 0 end
local now = redis.call('TIME')[1]
redis.call('HSET', KEYS[1], 'command_id', ARGV[2], 'fingerprint', ARGV[3], 'claimed_at', now)
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: the record. ARGV: command id. Deletes it only while it names that command.
_RELEASE = """
if redis.call('HGET', KEYS[1], 'command_id') == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class AbandonedClaim(Exception):
    """The key names a command that was never recorded and never will be: take it over."""


@dataclass(frozen=True)
class KeyScope:
    """Whose key it is: the caller (``Caller.identity``) and the command (the route)."""

    caller: str
    command: str


class Claim(BaseModel):
    model_config = ConfigDict(frozen=True)

    command_id: str
    fingerprint: str


@dataclass(frozen=True)
class EarlierClaim:
    """The claim a key already had, and how long ago it was made."""

    claim: Claim
    age_s: int

    @property
    def command_id(self) -> str:
        return self.claim.command_id

    @property
    def abandoned(self) -> bool:
        """Old enough that, were its command not recorded, it never will be."""
        return self.age_s >= ABANDONED_AFTER_S


def idempotency_key(request: Request) -> str | None:
    """The request's key; 400 when it is sent twice or is no key (see ``parse_key``)."""
    values = request.headers.getlist(HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest("send one Idempotency-Key header", field=FIELD)
    return parse_key(values[0])


def parse_key(value: str) -> str:
    """The key in a header value: an sf-string (``"…"``, as the draft has it) or bare.

    Both stand for the same key (``"a1"`` is ``a1``): 1 to 255 printable ASCII
    characters, and for a bare key no space, quote, backslash or comma.
    """
    value = value.strip(" \t")
    quoted = _QUOTED.fullmatch(value)
    key = _ESCAPE.sub(r"\1", quoted[1]) if quoted else value
    if not 1 <= len(key) <= MAX_KEY_CHARS:
        raise BadRequest(f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters", field=FIELD)
    if quoted is None and not _BARE.fullmatch(key):
        raise BadRequest(
            'Idempotency-Key must be a quoted string ("…") or visible ASCII without '
            "quotes, backslashes or commas",
            field=FIELD,
        )
    return key


def fingerprint(ring: KeyRing, command: Command) -> str:
    """What makes two requests "the same": the command and its validated payload, sealed
    fields included. Keyed, so the stored fingerprint of a login is no password hash that a
    guess could be checked against (a retry across a key rotation counts as another request).
    """
    payload = opened_payload(ring, command)
    canonical = json.dumps(
        {"command": command.name, "payload": payload}, sort_keys=True, separators=(",", ":")
    )
    return ring.digest("idempotency-fingerprint", canonical)


class IdempotencyStore:
    def __init__(self, client: redis.asyncio.Redis, ttl_s: int) -> None:
        self._redis = client
        self._ttl_s = ttl_s
        self._claim = client.register_script(_CLAIM)
        self._take_over = client.register_script(_TAKE_OVER)
        self._release = client.register_script(_RELEASE)

    async def claim(self, scope: KeyScope, key: str, claim: Claim) -> EarlierClaim | None:
        """Claim ``key`` for ``claim``; None if it was free, else the earlier claim.

        Raises ``InvalidInput`` when the earlier claim was for another request.
        """
        call = self.claim_call(scope, key, claim)
        return self.claimed(await self._claim(keys=call.keys, args=call.args), claim)

    def claim_call(self, scope: KeyScope, key: str, claim: Claim) -> scripts.Call:
        """``claim`` as a script call, to send with others in one round trip; its result
        means what ``claimed`` says."""
        args = [claim.command_id, claim.fingerprint, self._ttl_s]
        return scripts.Call(self._claim, [record_key(scope, key)], args)

    @staticmethod
    def claimed(found: list[Any] | None, claim: Claim) -> EarlierClaim | None:
        """What the claim script's result means for ``claim`` (see ``claim``)."""
        if not found:
            return None
        command_id, earlier_fingerprint, age_s = found
        if earlier_fingerprint != claim.fingerprint:
            raise InvalidInput(
                "this Idempotency-Key was already used with another request", field=FIELD
            )
        return EarlierClaim(Claim(command_id=command_id, fingerprint=claim.fingerprint), age_s)

    async def take_over(
        self, scope: KeyScope, key: str, abandoned: EarlierClaim, claim: Claim
    ) -> bool:
        """Claim ``key`` for ``claim`` unless another request claimed it since ``abandoned``;
        the key then expires ``ttl_s`` from now, its first use that led anywhere."""
        taken = await self._take_over(
            keys=[record_key(scope, key)],
            args=[abandoned.command_id, claim.command_id, claim.fingerprint, self._ttl_s],
        )
        return bool(taken)

    async def release(self, scope: KeyScope, key: str, command_id: str) -> None:
        """Free a key whose command was never accepted, so the client can try again;
        unless another request has taken it over meanwhile."""
        await self._release(keys=[record_key(scope, key)], args=[command_id])


def record_key(scope: KeyScope, key: str) -> str:
    """The Redis key of ``key``'s record (hashed: client-chosen bytes never become part of a
    Redis key name)."""
    scoped = f"{scope.caller}\n{scope.command}\n{key}"
    return keys.idempotency(hashlib.sha256(scoped.encode()).hexdigest())
