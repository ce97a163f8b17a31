"""OpenTelemetry: one trace per command, from the gateway's request through the broker,
the worker's task, the orchestrator and every hook, with the MongoDB and Redis calls.

Off unless an exporter is configured by the standard variables (``OTEL_TRACES_EXPORTER=otlp``
or an ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``; ``OTEL_SDK_DISABLED=true`` or
``OTEL_TRACES_EXPORTER=none`` keep it off): then nothing is imported or installed and each
call here is one ``None`` check. On, spans go by OTLP/HTTP through a batch processor; the
service is ``hookline-gateway`` or ``hookline-worker`` unless ``OTEL_SERVICE_NAME`` says.

The instrumentation packages make the spans they can: ASGI (the gateway's requests),
Celery (each publish and each task run, the context carried in the message headers),
pymongo and redis. Hookline adds its own where none exists: the command's run in the
orchestrator and each hook run. Envelopes carry a W3C ``traceparent`` too (``Command`` and
``Event``): a message published later by another process (a scheduled command's release,
a resend of a lost message) is published in its envelope's context, so it stays in the
trace of the request that caused it.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from typing import Any

log = logging.getLogger(__name__)

GATEWAY = "hookline-gateway"
WORKER = "hookline-worker"
TRACER = "hookline"
OUTCOME = "hookline.outcome"  # on Hookline's own spans: succeeded or failed

_provider: Any = None


def configured(env: Mapping[str, str] = os.environ) -> bool:
    """Whether the ``OTEL_*`` variables ask for traces to be exported."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    if exporter == "otlp":
        return True
    return bool(
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


def start(service: str) -> bool:
    """Set up the SDK and the instrumentation in this process, if configured; whether on."""
    global _provider  # noqa: PLW0603 - one provider per process, as the SDK wants it
    if _provider is not None:
        return True
    if not configured():
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.pymongo import PymongoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    named = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service}
    provider = TracerProvider(resource=Resource.create(named))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    celery = CeleryInstrumentor()  # type: ignore[no-untyped-call]
    for instrumentor in (celery, PymongoInstrumentor(), RedisInstrumentor()):
        instrumentor.instrument()
    _provider = provider
    log.info("tracing on: spans of %s go by OTLP/HTTP", service)
    return True


def stop() -> None:
    """Export what is buffered and stop (at process shutdown)."""
    if _provider is not None:
        _provider.shutdown()


def asgi_middleware() -> Any:
    """The ASGI instrumentation's middleware class, for the gateway's app."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    return OpenTelemetryMiddleware


def traceparent() -> str | None:
    """The current span as a W3C ``traceparent``, to put in an envelope; None when off."""
    if _provider is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")


def trace_id(parent: str | None) -> str | None:
    """The trace id (32 hex digits) a ``traceparent`` names."""
    parts = (parent or "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


@contextlib.contextmanager
def within(parent: str | None) -> Iterator[None]:
    """Run the block in ``parent``'s context unless a span is current already (a message
    published later, by another process, joins the trace of the request that caused it)."""
    if _provider is None or parent is None or _current_is_valid():
        yield
        return
    from opentelemetry import context

    token = context.attach(_extract(parent))
    try:
        yield
    finally:
        context.detach(token)


@contextlib.contextmanager
def span(
    name: str, *, parent: str | None = None, attributes: Mapping[str, Any] | None = None
) -> Iterator[None]:
    """A span around the block, a child of the current span (or of ``parent`` when none is
    current), with its ``hookline.outcome``: ``succeeded``, or ``failed`` when an exception
    escapes it (the exception is recorded on it too)."""
    if _provider is None:
        yield
        return
    from opentelemetry import trace

    context = None if parent is None or _current_is_valid() else _extract(parent)
    tracer = trace.get_tracer(TRACER)
    with tracer.start_as_current_span(
        name, context=context, attributes=dict(attributes or {})
    ) as current:
        try:
            yield
        except BaseException:
            current.set_attribute(OUTCOME, "failed")
            raise
        current.set_attribute(OUTCOME, "succeeded")


def _current_is_valid() -> bool:
    from opentelemetry import trace

    return bool(trace.get_current_span().get_span_context().is_valid)


def _extract(parent: str) -> Any:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    return TraceContextTextMapPropagator().extract({"traceparent": parent})
