"""docker-compose.yml, read as Compose reads it: who gets which secret, and how workers stop.

There is no Docker engine where the suite runs, so the file is checked by reading it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
SECRETS = ("HOOKLINE_JWT_SECRET", "HOOKLINE_BUS_SEAL_KEY")


def services() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return found


def test_the_gateway_and_workers_need_both_secrets_and_flower_gets_none() -> None:
    """Compose refuses to start without them (``:?``); Flower never opens a message."""
    for name in ("gateway", "worker"):
        environment = services()[name]["environment"]
        for secret in SECRETS:
            assert environment[secret].startswith(f"${{{secret}:?"), (name, secret)
    assert not set(SECRETS) & set(services()["flower"]["environment"])


def test_workers_stop_softly_on_sigterm() -> None:
    assert services()["worker"]["environment"]["REMAP_SIGTERM"] == "SIGQUIT"
