"""Settings read from the environment."""

from __future__ import annotations

import pytest

from core.settings import Settings


def test_modules_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """HOOKLINE_MODULES=audit, user_management loads just those two."""
    monkeypatch.setenv("HOOKLINE_MODULES", "audit, user_management")
    assert Settings().modules == ("audit", "user_management")


def test_broker_defaults_to_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without BROKER_URL the broker is the Redis at REDIS_URL; with it, that broker."""
    monkeypatch.setenv("REDIS_URL", "redis://example:6390/2")
    monkeypatch.delenv("BROKER_URL", raising=False)
    assert Settings().broker_url == "redis://example:6390/2"
    monkeypatch.setenv("BROKER_URL", "amqp://guest:guest@localhost:5672//")
    assert Settings().broker_url.startswith("amqp://")
