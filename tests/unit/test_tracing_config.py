"""Tracing is off unless the standard OTEL_* variables configure an exporter."""

from __future__ import annotations

import pytest

from core import tracing


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_an_exporter_must_be_configured(env: dict[str, str], on: bool) -> None:
    assert tracing.configured(env) is on


def test_off_it_adds_nothing() -> None:
    """Not started (as in this test process): no trace context, spans are no-ops."""
    assert tracing.traceparent() is None
    with tracing.span("nothing", parent="00-" + "1" * 32 + "-" + "2" * 16 + "-01"):
        pass
    with tracing.within("00-" + "1" * 32 + "-" + "2" * 16 + "-01"):
        pass
    assert tracing.trace_id("00-" + "a" * 32 + "-" + "b" * 16 + "-01") == "a" * 32
    assert tracing.trace_id("junk") is None
