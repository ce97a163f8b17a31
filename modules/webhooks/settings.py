"""The webhooks module's settings, resolved through the secrets chain as
``HOOKLINE_WEBHOOKS_<NAME>`` (or a secrets file), checked when the module starts."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from events import ConfigurationError
from modules.declarations import Secret

DECLARED = (
    Secret(
        "allowed_hosts",
        "",
        "Comma-separated hosts (as written in a URL), addresses or networks that may be "
        "delivered to although they are not public, such as 127.0.0.1 in tests.",
    ),
    Secret("timeout_s", "15", "How long one try may take; a 2xx within it is a success."),
    Secret(
        "retry_schedule_s",
        "0,5,300,1800,7200,18000,36000,36000",
        "Seconds before each try (the first is the first try): its length is the number of tries.",
    ),
    Secret("disable_after_s", "432000", "An endpoint failing every try this long is disabled."),
    Secret("secret_grace_s", "86400", "How long a rotated-out secret keeps signing."),
    Secret("endpoint_concurrency", "4", "Tries in flight to one endpoint at most."),
    Secret("endpoint_rate_limit", "50/second", "Tries to one endpoint at most, `limits` notation."),
    Secret(
        "delivery_threads",
        "16",
        "Tries one worker process makes at once (each waits on the network, not the CPU).",
    ),
    Secret("tick_s", "0.5", "How often each worker process looks for tries that are due."),
    Secret(
        "requeue_after_s",
        "300",
        "A try queued or in hand this long without an outcome is presumed lost and sent again.",
    ),
)


class WebhookSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    allowed_hosts: str = ""
    timeout_s: float = Field(15.0, gt=0, le=120)
    retry_schedule_s: tuple[float, ...] = Field(min_length=1, max_length=32)
    disable_after_s: float = Field(ge=0)
    secret_grace_s: int = Field(ge=0, le=7 * 86400)
    endpoint_concurrency: int = Field(ge=1, le=1000)
    endpoint_rate_limit: str = Field(min_length=1)
    delivery_threads: int = Field(ge=1, le=256)
    tick_s: float = Field(gt=0, le=60)
    requeue_after_s: float = Field(gt=0)

    @field_validator("retry_schedule_s", mode="before")
    @classmethod
    def _schedule(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(float(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("retry_schedule_s")
    @classmethod
    def _not_negative(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(delay < 0 for delay in value):
            raise ValueError("delays must not be negative")
        return value

    @classmethod
    def parse(cls, resolved: Mapping[str, str]) -> WebhookSettings:
        """The settings from the resolved secrets; a missing one takes its default."""
        defaults = {s.name: s.default or "" for s in DECLARED}
        try:
            return cls.model_validate({**defaults, **resolved})
        except (ValidationError, ValueError) as e:
            raise ConfigurationError(f"webhooks settings (HOOKLINE_WEBHOOKS_*): {e}") from e

    @property
    def tries(self) -> int:
        return len(self.retry_schedule_s)

    def delay_before(self, attempt: int) -> float | None:
        """Seconds between try ``attempt - 1`` failing and try ``attempt``; None past the last."""
        return self.retry_schedule_s[attempt - 1] if attempt <= self.tries else None
