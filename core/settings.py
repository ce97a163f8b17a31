"""Settings from the environment, read once at process start and passed in."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a gateway or worker process is configured with.

    Store URLs use their conventional names (``REDIS_URL``, ``MONGO_URL``,
    ``BROKER_URL``); everything else is prefixed ``HOOKLINE_``.
    """

    model_config = SettingsConfigDict(env_prefix="HOOKLINE_", extra="ignore", frozen=True)

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", validation_alias=AliasChoices("REDIS_URL", "HOOKLINE_REDIS_URL")
    )
    mongo_url: str = Field(
        "mongodb://127.0.0.1:27017",
        validation_alias=AliasChoices("MONGO_URL", "HOOKLINE_MONGO_URL"),
    )
    broker_url: str = Field("", validation_alias=AliasChoices("BROKER_URL", "HOOKLINE_BROKER_URL"))
    mongo_db: str = "hookline"
    data_dir: Path = Path(".hookline")
    secrets_dir: Path = Path("secrets")
    kubernetes_secrets_dir: Path = Path("/run/secrets")
    # Comma-separated module names to load; unset loads every module found.
    modules: Annotated[tuple[str, ...] | None, NoDecode] = None
    # Comma-separated packages scanned for module packages, and for `<package>.<module>`
    # orchestrators (a benchmark loads its probe module from outside `modules/`).
    module_packages: Annotated[tuple[str, ...], NoDecode] = ("modules",)
    orchestrator_packages: Annotated[tuple[str, ...], NoDecode] = ("workers.orchestrators",)

    jwt_issuer: str = "hookline"
    jwt_audience: str = "hookline-api"

    command_ttl_s: int = 7 * 24 * 3600
    read_model_ttl_s: int = 24 * 3600
    max_wait_s: int = 30
    max_event_depth: int = 8
    store_timeout_ms: int = 5000
    heartbeat_interval_s: float = 2.0
    heartbeat_ttl_s: int = 10
    broker_publish_timeout_s: float = 5.0
    task_time_limit_s: int = 120
    visibility_timeout_s: int = 3600
    command_max_retries: int = 3
    retry_backoff_max_s: int = 60
    # Celery task events from the start; without it Flower switches them on when it runs.
    task_events: bool = False

    @field_validator("modules", "module_packages", "orchestrator_packages", mode="before")
    @classmethod
    def _split_modules(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @model_validator(mode="after")
    def _broker_defaults_to_redis(self) -> Settings:
        if not self.broker_url:
            object.__setattr__(self, "broker_url", self.redis_url)
        return self

    @property
    def local_secrets_dir(self) -> Path:
        return self.data_dir / "secrets"
