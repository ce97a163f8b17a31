"""docker-compose.yml, read as Compose reads it: who gets which secret, how workers stop,
what the host publishes.

There is no Docker engine where the suite runs, so the file is checked by reading it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from core.settings import Settings
from hookline.stack import FLOWER_AUTH_ENV, FLOWER_SECRET_NAME

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


def test_flower_asks_for_a_login_from_a_compose_secret() -> None:
    """The login is a file the operator makes, mounted at /run/secrets for Flower only.

    ``hookline flower`` finds it there through the secrets chain and refuses to start
    without it; the compose file holds no login, in the command or the environment.
    """
    compose = yaml.safe_load(COMPOSE.read_text())
    flower = compose["services"]["flower"]
    assert flower["command"] == ["hookline", "flower"]
    assert flower["secrets"] == [FLOWER_SECRET_NAME]
    assert compose["secrets"][FLOWER_SECRET_NAME] == {"file": f"./secrets/{FLOWER_SECRET_NAME}"}
    default = Settings.model_fields["kubernetes_secrets_dir"].default
    assert default == Path("/run/secrets")  # where compose mounts it, in the chain
    assert "secrets/" in (COMPOSE.parent / ".gitignore").read_text().splitlines()
    for name, service in compose["services"].items():
        if name != "flower":
            assert "secrets" not in service, name
        environment = service.get("environment", {})
        assert not {FLOWER_AUTH_ENV, "HOOKLINE_FLOWER_BASIC_AUTH"} & set(environment), name
        assert "FLOWER_UNAUTHENTICATED_API" not in environment, name
        assert "basic_auth" not in " ".join(service.get("command", [])), name


def test_flower_is_published_on_loopback_only() -> None:
    """Inside its container Flower listens on 0.0.0.0; the host publishes it on 127.0.0.1."""
    flower = services()["flower"]
    assert flower["ports"] == ["127.0.0.1:5555:5555"]
    assert flower["environment"]["HOOKLINE_FLOWER_ADDRESS"] == "0.0.0.0"


def test_the_gateway_names_no_server_and_keeps_open_metrics_off_the_host() -> None:
    """``--no-server-header`` in compose and the image; the metrics port is not published."""
    gateway = services()["gateway"]
    assert "--no-server-header" in gateway["command"]
    dockerfile = (COMPOSE.parent / "Dockerfile").read_text()
    assert '"--no-server-header"]' in dockerfile.splitlines()[-1]
    port = gateway["environment"]["HOOKLINE_METRICS_PORT"]
    assert gateway["expose"] == [port]
    assert not any(mapping.endswith(f":{port}") for mapping in gateway["ports"])


def test_flower_sees_the_first_command() -> None:
    """Workers send task events from their start, and the gateway (which accepts commands)
    starts only once Flower is healthy, as under ``hookline up``."""
    assert services()["worker"]["environment"]["HOOKLINE_TASK_EVENTS"] == "true"
    assert services()["gateway"]["depends_on"]["flower"] == {"condition": "service_healthy"}
