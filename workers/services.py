"""The clients and managers a worker process builds once at start and closes at shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from pymongo import MongoClient
from pymongo.database import Database

from core.command_index import IndexBounds
from core.command_state import CommandStateStore
from core.history import HistoryRecorder, HistoryStore
from core.read_models import ReadModelStore
from core.redelivery import MessageLedger
from core.sealing import KeyRing
from core.secrets import SecretsChain
from core.security import (
    ApiKeyRegistry,
    PasswordHasher,
    RoleTable,
    SessionStore,
    TokenService,
    UserRolesRegistry,
)
from core.sender import Sender
from core.serial import SerialLines
from core.settings import Settings
from core.stores import connect_mongo, connect_redis, mongo_database
from workers.bus import CeleryEventBus, EventBus
from workers.dead_letters import DeadLetterStore
from workers.hook_runs import HookRunLedger

MongoDocument = dict[str, Any]


@dataclass
class WorkerServices:
    settings: Settings
    mongo: MongoClient[MongoDocument]
    db: Database[MongoDocument]
    redis: redis.Redis
    state: CommandStateStore
    # The commands' summaries in MongoDB; ``state`` writes them (``core.history``).
    history: HistoryStore
    # Its writer: off the callers' threads, so no status change waits on MongoDB.
    history_writes: HistoryRecorder
    read_models: ReadModelStore
    hook_runs: HookRunLedger
    dead_letters: DeadLetterStore
    ledger: MessageLedger
    # The one way this process publishes: events, retries, replays, resends.
    sender: Sender
    # Turns of commands with a serial key: parked until the commands before them ended.
    lines: SerialLines
    bus: EventBus
    celery: Celery
    secrets: SecretsChain
    keys: KeyRing
    passwords: PasswordHasher
    tokens: TokenService
    sessions: SessionStore
    api_keys: ApiKeyRegistry
    # Key creators' roles for the gateway, which bounds their keys with them.
    user_roles: UserRolesRegistry
    # Which role holds which permission; composed from the module declarations at start.
    roles: RoleTable

    @classmethod
    def build(cls, settings: Settings, celery: Celery, roles: RoleTable) -> WorkerServices:
        secrets = SecretsChain.from_settings(settings)
        ring = KeyRing.from_secrets(secrets)  # before connecting: no key, no start
        mongo = connect_mongo(settings)
        db = mongo_database(mongo, settings)
        client = connect_redis(settings)
        ledger = MessageLedger(client, settings.command_ttl_s)
        sender = Sender(celery, ledger, settings.broker_publish_timeout_s)
        lines = SerialLines(client, sender, settings.command_ttl_s, settings.redelivery_grace_s)
        history = HistoryStore(db, settings.history_retention_s)
        recorder = HistoryRecorder(history)
        return cls(
            settings=settings,
            mongo=mongo,
            db=db,
            redis=client,
            state=CommandStateStore(
                client,
                settings.command_ttl_s,
                settings.secret_result_ttl_s,
                settings.publish_fence_s,
                index=IndexBounds.from_settings(settings),
                lines=lines,
                history=recorder,
            ),
            history=history,
            history_writes=recorder,
            read_models=ReadModelStore(client, settings.read_model_ttl_s),
            hook_runs=HookRunLedger(db),
            dead_letters=DeadLetterStore(db),
            ledger=ledger,
            sender=sender,
            lines=lines,
            bus=CeleryEventBus(sender),
            celery=celery,
            secrets=secrets,
            keys=ring,
            passwords=PasswordHasher(),
            tokens=TokenService.from_settings(settings, secrets),
            sessions=SessionStore(client),
            api_keys=ApiKeyRegistry(client),
            user_roles=UserRolesRegistry(client),
            roles=roles,
        )

    def close(self) -> None:
        self.history_writes.close()
        self.mongo.close()
        self.redis.close()
