"""What the gateway builds at startup (Starlette lifespan) and closes at shutdown."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio
from celery import Celery

from api_gateway.publisher import CommandPublisher
from api_gateway.watcher import CommandWatcher
from core.celery_app import make_celery
from core.command_state import AsyncCommandStateStore
from core.read_models import AsyncReadModelReader
from core.redelivery import AsyncMessageLedger
from core.secrets import SecretsChain
from core.security import TokenService
from core.settings import Settings
from core.stores import connect_async_redis


@dataclass
class GatewayServices:
    settings: Settings
    redis: redis.asyncio.Redis
    celery: Celery
    state: AsyncCommandStateStore
    read_models: AsyncReadModelReader
    publisher: CommandPublisher
    ledger: AsyncMessageLedger
    watcher: CommandWatcher
    tokens: TokenService

    @classmethod
    def build(cls, settings: Settings, queues: tuple[str, ...]) -> GatewayServices:
        client = connect_async_redis(settings)
        celery = make_celery(settings, queues)
        return cls(
            settings=settings,
            redis=client,
            celery=celery,
            state=AsyncCommandStateStore(client, settings.command_ttl_s),
            read_models=AsyncReadModelReader(client),
            publisher=CommandPublisher(celery),
            ledger=AsyncMessageLedger(client, settings.command_ttl_s),
            watcher=CommandWatcher(client),
            tokens=TokenService.from_settings(settings, SecretsChain.from_settings(settings)),
        )

    async def start(self) -> None:
        await self.watcher.start()

    async def close(self) -> None:
        await self.watcher.stop()
        await self.redis.aclose()
        self.celery.close()
