"""What the gateway builds at startup (Starlette lifespan) and closes at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio
from celery import Celery
from redis import Redis as SyncRedis

from api_gateway.admission import Gate, Throttle
from api_gateway.auth import Authenticator
from api_gateway.bans import Bans
from api_gateway.client_ip import trusted_networks
from api_gateway.history import GatewayHistory
from api_gateway.idempotency import IdempotencyStore
from api_gateway.in_flight import InFlightLimiter
from api_gateway.publisher import CommandPublisher
from api_gateway.rate_limits import CallerLimits, RateLimiter, parse_limits
from api_gateway.waits import OpenWaits
from api_gateway.watcher import CommandWatcher
from core.celery_app import make_celery
from core.command_index import IndexBounds
from core.command_state import AsyncCommandStateStore, CommandStateStore
from core.read_models import AsyncReadModelReader
from core.redelivery import MessageLedger
from core.sealing import KeyRing
from core.secrets import SecretsChain
from core.security import (
    AsyncApiKeyReader,
    AsyncSessionReader,
    AsyncUserRolesReader,
    RoleTable,
    TokenService,
)
from core.sender import Sender
from core.settings import Settings
from core.stores import connect_async_redis, connect_redis


@dataclass
class GatewayServices:
    settings: Settings
    redis: redis.asyncio.Redis
    # For the publisher's thread, which records, publishes and confirms commands.
    sync_redis: SyncRedis
    celery: Celery
    state: AsyncCommandStateStore
    read_models: AsyncReadModelReader
    publisher: CommandPublisher
    watcher: CommandWatcher
    tokens: TokenService
    # Seals a command's sensitive fields before publishing; opens results to hand them over.
    keys: KeyRing
    # Which role holds which permission; composed from the module declarations at start.
    roles: RoleTable
    gate: Gate
    in_flight: InFlightLimiter
    idempotency: IdempotencyStore
    waits: OpenWaits
    # The commands' summaries in MongoDB: written at acceptance, read by the console.
    history: GatewayHistory

    @classmethod
    def build(
        cls, settings: Settings, queues: tuple[str, ...], roles: RoleTable
    ) -> GatewayServices:
        chain = SecretsChain.from_settings(settings)
        ring = KeyRing.from_secrets(chain)  # no key, no start
        client = connect_async_redis(settings)
        sync_client = connect_redis(settings)
        celery = make_celery(settings, queues)
        tokens = TokenService.from_settings(settings, chain)
        index = IndexBounds.from_settings(settings)
        return cls(
            settings=settings,
            redis=client,
            sync_redis=sync_client,
            celery=celery,
            state=AsyncCommandStateStore(client, settings.command_ttl_s, index),
            read_models=AsyncReadModelReader(client),
            publisher=CommandPublisher(
                celery,
                CommandStateStore(
                    sync_client,
                    settings.command_ttl_s,
                    fence_s=settings.publish_fence_s,
                    index=index,
                ),
                Sender(
                    celery,
                    MessageLedger(sync_client, settings.command_ttl_s),
                    settings.broker_publish_timeout_s,
                ),
            ),
            watcher=CommandWatcher(client),
            tokens=tokens,
            keys=ring,
            roles=roles,
            gate=build_gate(settings, client, tokens, roles),
            in_flight=InFlightLimiter(
                client, settings.max_commands_in_flight, settings.in_flight_expiry_s
            ),
            # Never outliving the command it names: a key with no command would look abandoned.
            idempotency=IdempotencyStore(
                client, min(settings.idempotency_ttl_s, settings.command_ttl_s)
            ),
            waits=OpenWaits(settings.max_open_waits_per_caller, settings.max_open_waits),
            history=GatewayHistory.from_settings(settings),
        )

    async def start(self) -> None:
        await self.watcher.start()

    async def close(self) -> None:
        await self.watcher.stop()
        await self.redis.aclose()
        self.sync_redis.close()
        self.celery.close()
        self.history.close()


def build_gate(
    settings: Settings, client: redis.asyncio.Redis, tokens: TokenService, roles: RoleTable
) -> Gate:
    authenticator = Authenticator(
        tokens,
        AsyncSessionReader(client),
        AsyncApiKeyReader(client),
        AsyncUserRolesReader(client),
        roles,
    )
    trusted = trusted_networks(settings.trusted_proxies)
    if not settings.rate_limits_enabled:
        return Gate(authenticator, trusted)
    limiter = RateLimiter(client, settings.redis_url)
    threshold = parse_limits(settings.ban_after_violations, "ban_after_violations")
    bans = Bans(client, limiter, threshold, settings.ban_duration_s)
    return Gate(
        authenticator, trusted, Throttle(limiter, bans, CallerLimits.from_settings(settings))
    )
