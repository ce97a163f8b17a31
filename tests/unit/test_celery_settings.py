"""Delivery settings: at-least-once by configuration, and refused when they would redeliver."""

from __future__ import annotations

import pytest

from core.celery_app import ADMIN_QUEUE, EVENTS_QUEUE, make_celery, soft_time_limit_s
from core.settings import Settings
from events import ConfigurationError


def settings(**values: object) -> Settings:
    return Settings(**values)  # type: ignore[arg-type]


def test_delivery_is_at_least_once_and_json_only() -> None:
    """Late acks, reject on worker lost, prefetch 1, JSON only, soft shutdown, confirms."""
    conf = make_celery(settings(worker_soft_shutdown_s=7)).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.worker_soft_shutdown_timeout == 7
    assert conf.broker_transport_options["confirm_publish"] is True


def test_workers_consume_module_events_and_admin_queues() -> None:
    """Every module queue plus the events and admin queues."""
    conf = make_celery(Settings(), queues=("wallet",)).conf
    assert {q.name for q in conf.task_queues} == {"wallet", EVENTS_QUEUE, ADMIN_QUEUE}


def test_visibility_timeout_must_outlast_a_tasks_longest_hold() -> None:
    """Time limit + longest retry wait at or above the visibility timeout stops startup."""
    with pytest.raises(ConfigurationError, match="visibility_timeout_s"):
        make_celery(settings(task_time_limit_s=10, retry_backoff_max_s=5, visibility_timeout_s=15))
    conf = make_celery(
        settings(task_time_limit_s=10, retry_backoff_max_s=5, visibility_timeout_s=16)
    ).conf
    assert conf.broker_transport_options["visibility_timeout"] == 16


@pytest.mark.parametrize(("limit", "soft"), [(120, 110), (30, 27), (6, 5)])
def test_soft_time_limit_leaves_a_tenth_between_1_and_10_s(limit: int, soft: float) -> None:
    """A task is warned before it is killed."""
    assert soft_time_limit_s(limit) == soft


def test_the_fence_must_outlast_the_longest_publish() -> None:
    """Three tries of the publish timeout (and a second between) at or above the fence stops
    startup: a worker would refuse commands their gateway is still about to confirm."""
    with pytest.raises(ConfigurationError, match="publish_fence_s"):
        make_celery(settings(broker_publish_timeout_s=5, publish_fence_s=18))
    conf = make_celery(settings(broker_publish_timeout_s=5, publish_fence_s=18.5)).conf
    assert conf.broker_transport_options["socket_timeout"] == 5


def test_rabbitmq_gets_read_and_write_timeouts_instead() -> None:
    amqp = make_celery(settings(BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")).conf
    options = amqp.broker_transport_options
    assert "socket_timeout" not in options
    assert options["read_timeout"] == options["write_timeout"] == 5
