"""``Idempotency-Key``: one command per (caller, key), whatever the number of requests.

The first request with a key claims it in Redis (set-if-absent, with a TTL)
for a new command id, together with a fingerprint of the request. A later
request with the same key and the same fingerprint gets that command again; with
another fingerprint it is refused with 422. Keys are scoped to the caller, so
two callers never share one.
"""

from __future__ import annotations

import hashlib
import json

import redis.asyncio
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request

from api_gateway.errors import BadRequest
from core import keys
from core.sealing import KeyRing, opened_payload
from events import Command, InvalidInput

HEADER = "idempotency-key"
MAX_KEY_CHARS = 255

# KEYS: the record. ARGV: the new record, ttl. Returns the existing record, or false if claimed.
_CLAIM = """
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""


class Claim(BaseModel):
    model_config = ConfigDict(frozen=True)

    command_id: str
    fingerprint: str


def idempotency_key(request: Request) -> str | None:
    """The request's key; 400 when it is empty, too long or sent twice."""
    values = request.headers.getlist(HEADER)
    if not values:
        return None
    if len(values) > 1:
        raise BadRequest("send one Idempotency-Key header", field="Idempotency-Key")
    key = values[0].strip()
    if not 1 <= len(key) <= MAX_KEY_CHARS:
        raise BadRequest(
            f"Idempotency-Key must be 1 to {MAX_KEY_CHARS} characters", field="Idempotency-Key"
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

    async def claim(self, scope: str, key: str, claim: Claim) -> Claim | None:
        """Claim ``key`` for ``claim``; None if it was free, else the earlier claim.

        Raises ``InvalidInput`` when the earlier claim was for another request.
        """
        raw = await self._claim(
            keys=[_record_key(scope, key)], args=[claim.model_dump_json(), self._ttl_s]
        )
        if not raw:
            return None
        earlier = Claim.model_validate_json(raw)
        if earlier.fingerprint != claim.fingerprint:
            raise InvalidInput(
                "this Idempotency-Key was already used with another request",
                field="Idempotency-Key",
            )
        return earlier

    async def release(self, scope: str, key: str) -> None:
        """Free a key whose command was never accepted, so the client can try again."""
        await self._redis.delete(_record_key(scope, key))


def _record_key(scope: str, key: str) -> str:
    # Hashed: client-chosen bytes never become part of a Redis key name.
    return keys.idempotency(hashlib.sha256(f"{scope}\n{key}".encode()).hexdigest())
