"""Settings from the environment, read once at process start and passed in."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core import failpoints


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
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_leeway_s: int = Field(5, ge=0, le=60)

    # Rate limits in `limits` notation ("300/minute"; several joined by ";").
    rate_limits_enabled: bool = True
    rate_limit_per_ip: str = "600/minute"
    rate_limit_per_user: str = "300/minute"
    rate_limit_per_api_key: str = "1200/minute"
    # Command name -> limit, replacing what the module declared for that route.
    route_rate_limits: dict[str, str] = {}
    # More refusals (429) than this within the window bans the caller for ban_duration_s.
    ban_after_violations: str = "30/minute"
    ban_duration_s: int = 600
    # Peers whose X-Forwarded-For is believed: addresses or networks, comma-separated.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    max_commands_in_flight: int = 100
    in_flight_expiry_s: int = 900
    idempotency_ttl_s: int = 24 * 3600

    command_ttl_s: int = 7 * 24 * 3600
    # Command summaries in MongoDB (the console's history) live this long after their last
    # change: a TTL index on ``updated_at`` (``core.history``).
    history_retention_s: int = Field(30 * 24 * 3600, ge=60)
    # A console sign-in lasts this long without use (``api_gateway.console``).
    console_session_ttl_s: int = Field(8 * 3600, ge=60)
    # Command-Not-Before may be at most this far ahead (core/schedule.py). Workers release
    # due commands every tick; one of them at a time, the holder of a lease of this length.
    schedule_horizon_s: int = Field(30 * 24 * 3600, ge=1)
    schedule_tick_s: float = Field(0.2, gt=0, le=5)
    schedule_lease_s: float = Field(3.0, gt=0)
    # GET /commands lists a caller's commands from an index of their ids: the newest this
    # many per caller, each until its command's TTL (after its schedule) has passed.
    command_index_max: int = Field(10_000, ge=1)
    # A result's sensitive fields (tokens, keys) wait this long at most to be handed over.
    secret_result_ttl_s: int = Field(300, ge=1, le=3600)
    read_model_ttl_s: int = 24 * 3600
    max_wait_s: int = 30
    max_event_depth: int = 8
    store_timeout_ms: int = 5000
    heartbeat_interval_s: float = 2.0
    heartbeat_ttl_s: int = 10
    # How long a publish may wait for the broker's answer (a socket timeout on Redis).
    broker_publish_timeout_s: float = 5.0
    # A command its gateway has not confirmed this long after recording it was answered
    # 503: the worker that finds it refuses it for good (see core/command_state.py).
    publish_fence_s: float = 60.0
    # Delivery (see core/celery_app.py). A task running longer than the time limit is
    # killed and redelivered; the Redis broker redelivers a message nobody acknowledged
    # within the visibility timeout, so that must outlast a task's longest wait plus run.
    task_time_limit_s: int = 120
    visibility_timeout_s: int = 3600
    # How often a worker looks for messages abandoned past the visibility timeout (Redis).
    broker_restore_interval_s: int = 10
    # On SIGTERM running tasks get this long to finish; the rest go back to the broker.
    # Keep it below the supervisor's grace period (docker compose and `hookline up`: 10 s).
    worker_soft_shutdown_s: float = 8.0
    # The retry policy (workers/retry.py), the same for commands and for each hook.
    # A store or the broker not answering is likely to heal: many tries, spread out.
    # Any other error is likely to repeat: a few tries, then a dead letter.
    # A message not started although messages of its queue due this much later have
    # started was lost by the broker (see core/redelivery.py); workers look every sweep.
    redelivery_grace_s: float = 60.0
    redelivery_sweep_s: float = 10.0
    transient_max_retries: int = 10
    poison_max_retries: int = 3
    retry_backoff_base_s: float = 1.0
    retry_backoff_max_s: float = 60.0
    # Celery task events from the start; without it Flower switches them on when it runs.
    task_events: bool = False
    # Failpoints to arm (core/failpoints.py), e.g. "hooks.after_effect=exit:0.1"; tests only.
    failpoints: str = ""

    # Open waits (api_gateway/waits.py): requests parked until their command is done (a
    # `Prefer: wait`, a query or admin route's wait) and event streams. A gateway process
    # holds at most this many per caller (user, API key, or address for anonymous callers)
    # and this many in all; one more is a 429 with Retry-After, refused before anything is
    # claimed or reserved for it. Counted per process: a caller using n gateways may hold
    # n times the per-caller cap.
    max_open_waits_per_caller: int = Field(10, ge=1)
    max_open_waits: int = Field(1000, ge=1)
    # Waits and streams wake on the gateway's pub/sub subscription (api_gateway/watcher.py),
    # which wakes all of them when it (re)subscribes; they re-read their command unwoken this
    # often too, in case a message was lost anyway.
    wait_recheck_s: float = Field(10.0, gt=0, le=60)

    @field_validator(
        "modules", "trusted_proxies", "module_packages", "orchestrator_packages", mode="before"
    )
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _check_proxies(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # ValueError names the bad entry
        return value

    @field_validator("failpoints")
    @classmethod
    def _check_failpoints(cls, value: str) -> str:
        failpoints.parse(value)  # FailpointSpecError names an unknown or malformed entry
        return value

    @model_validator(mode="after")
    def _broker_defaults_to_redis(self) -> Settings:
        if not self.broker_url:
            object.__setattr__(self, "broker_url", self.redis_url)
        return self

    @property
    def local_secrets_dir(self) -> Path:
        return self.data_dir / "secrets"

    # The gateway's metrics (api_gateway/metrics.py): GET /metrics on the main port needs
    # metrics:read. With a port set, a listener of their own serves them without
    # authentication on metrics_host, for a private scrape network (loopback unless set).
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_host: str = "127.0.0.1"
