"""The gate every routed request passes before its body is read.

In order: the client's address (trusted proxies), a ban or the per-IP limit,
authentication, a ban or the per-user / per-key limit, the route's own limit,
then the route's permission. A refusal is an exception the problem handler
turns into 401, 403 or 429.

A public route's own limit (login, register) counts the client's address even
when a token is attached: otherwise every throwaway account would bring its
own allowance of password guesses or registrations.
"""

from __future__ import annotations

from dataclasses import dataclass

from limits import RateLimitItem
from starlette.requests import Request

from api_gateway.auth import Authenticator
from api_gateway.bans import Bans
from api_gateway.client_ip import IpNetwork, client_ip
from api_gateway.errors import TooManyRequests
from api_gateway.rate_limits import CallerLimits, RateLimiter
from events import Actor, Forbidden


@dataclass(frozen=True)
class Policy:
    """What a route asks of the gate; ``name`` scopes the route's own limit."""

    name: str
    auth: bool = True
    permission: str | None = None
    rate_limit: tuple[RateLimitItem, ...] = ()
    users_only: bool = False


@dataclass(frozen=True)
class Caller:
    actor: Actor
    ip: str

    @property
    def identity(self) -> str:
        """Whom limits, caps and idempotency keys belong to; anonymous callers by address."""
        return f"ip:{self.ip}" if self.actor.is_anonymous else self.actor.principal


@dataclass(frozen=True)
class Throttle:
    """Rate limits with bans; absent when limits are switched off."""

    limiter: RateLimiter
    bans: Bans
    limits: CallerLimits

    async def enforce(
        self, identity: str, scope: str, items: tuple[RateLimitItem, ...], checked: set[str]
    ) -> None:
        if identity not in checked:
            await self.bans.check(identity)
            checked.add(identity)
        try:
            await self.limiter.hit(items, scope, identity)
        except TooManyRequests as refusal:
            raise await self.bans.violated(identity, refusal) from None

    def for_actor(self, actor: Actor) -> tuple[RateLimitItem, ...]:
        return self.limits.per_api_key if actor.api_key_id else self.limits.per_user


@dataclass(frozen=True)
class Gate:
    authenticator: Authenticator
    trusted_proxies: tuple[IpNetwork, ...]
    throttle: Throttle | None = None

    async def admit(self, request: Request, policy: Policy) -> Caller:
        """The caller, once every check passed."""
        ip = client_ip(request, self.trusted_proxies)
        checked: set[str] = set()
        throttle = self.throttle
        if throttle is not None:
            await throttle.enforce(f"ip:{ip}", "ip", throttle.limits.per_ip, checked)
        caller = Caller(await self.authenticator.authenticate(request, policy.auth), ip)
        if throttle is not None:
            if not caller.actor.is_anonymous:
                items = throttle.for_actor(caller.actor)
                await throttle.enforce(caller.identity, "caller", items, checked)
            if policy.rate_limit:
                scope = f"route:{policy.name}"
                who = route_identity(policy, caller)
                await throttle.enforce(who, scope, policy.rate_limit, checked)
        self.authenticator.roles.require(caller.actor, policy.permission)
        if policy.users_only and caller.actor.api_key_id is not None:
            raise Forbidden("this route acts on a user's own account; an API key has none")
        return caller


def route_identity(policy: Policy, caller: Caller) -> str:
    """Whom a route's own limit counts: the address on public routes, else the caller."""
    return caller.identity if policy.auth else f"ip:{caller.ip}"
