"""Who may read a command, and handing a secret result over once.

A command is read by whoever submitted it, or by a holder of
``commands:read_any`` (operators and admins), who sees it without its secrets.
An anonymous command (register, login, refresh) has no owner to check, so its
answer carries a claim: a random token in the ``Command-Claim`` header, of
which Redis keeps only a digest. Reading it needs that header back; by id
alone it is a ``404``, so a command id seen in a log or in Flower is never a
credential.

A result's sensitive fields (tokens, API keys) are sealed apart from its
document and handed over once: to the request that waited for it, or to the
submitter's first read of the document or its stream. The sealed part is read,
opened, then removed only if it is still the same (a compare-and-delete), so two
readers never both get it, and a gateway that lacks the key (mid-rotation)
answers ``503`` and leaves it for one that has it; from then on the document
shows ``result_redacted: true``. A response that
carries secrets or a claim says ``Cache-Control: no-store``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from api_gateway.errors import ServiceUnavailable
from api_gateway.services import GatewayServices
from core.command_state import CommandDocument
from core.sealing import SealError, open_result
from core.security import READ_ANY_COMMAND
from events import Actor

CLAIM_HEADER = "Command-Claim"
ANONYMOUS = "anonymous"
NO_STORE = {"Cache-Control": "no-store"}
RETRY_SEALED_S = 30


@dataclass(frozen=True)
class CommandClaim:
    """A new claim: the token for the client, its digest for Redis."""

    token: str
    digest: str

    @classmethod
    def new(cls) -> CommandClaim:
        token = secrets.token_urlsafe(32)
        return cls(token, claim_digest(token))

    @property
    def headers(self) -> dict[str, str]:
        return {CLAIM_HEADER: self.token, **NO_STORE}


def claim_digest(token: str) -> str:
    # A digest of 256 random bits: nothing to guess, so no key is needed.
    return hashlib.sha256(token.encode()).hexdigest()


def is_submitter(actor: Actor, request: Request, document: CommandDocument) -> bool:
    """The caller submitted this command: its owner, or for an anonymous one, a claim holder."""
    if document.owner != ANONYMOUS:
        return document.owner == actor.principal
    token = request.headers.get(CLAIM_HEADER)
    if not token:
        return False
    presented = claim_digest(token)
    return any(hmac.compare_digest(presented, known) for known in document.claims)


def may_read(actor: Actor, request: Request, document: CommandDocument) -> bool:
    services: GatewayServices = request.app.state.services
    return is_submitter(actor, request, document) or services.roles.has_permission(
        actor, READ_ANY_COMMAND
    )


async def hand_over(services: GatewayServices, document: CommandDocument) -> CommandDocument:
    """``document`` with its result's secrets, if they are still there, taking them for good.

    Call it only for the submitter; anyone else sees the redacted document.
    """
    if not document.result_redacted or document.result is None:
        return document
    sealed = await services.state.peek_secret(document.command_id)
    if sealed is None:  # handed over already, or expired
        return document
    try:
        secret = open_result(services.keys, document.command_id, sealed)
    except SealError as e:  # left in place: a gateway that has the key can hand it over
        raise ServiceUnavailable(
            f"this gateway cannot open the result ({e}); try again once every gateway "
            "lists the key that workers seal with",
            retry_after_s=RETRY_SEALED_S,
        ) from e
    if not await services.state.take_secret(document.command_id, sealed):
        return document  # another read took it meanwhile
    return document.revealed(secret)


async def shown_to(
    services: GatewayServices, request: Request, actor: Actor, document: CommandDocument
) -> CommandDocument:
    """What this reader sees: the submitter takes the secrets (once), anyone else not."""
    if is_submitter(actor, request, document):
        return await hand_over(services, document)
    return document


def secret_headers(before: CommandDocument, after: CommandDocument) -> dict[str, Any]:
    """``Cache-Control: no-store`` when ``after`` holds what ``before`` kept back."""
    revealed = before.result_redacted and not after.result_redacted
    return dict(NO_STORE) if revealed else {}
