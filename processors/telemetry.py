"""OpenTelemetry set-up. Spans are always real (trace ids propagate through Kafka headers even
when nothing is exported); exporting is configured by the standard ``OTEL_*`` variables."""

from __future__ import annotations

import threading

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

_lock = threading.Lock()


def tracer_provider() -> trace.TracerProvider:
    """The global provider, installing an SDK one if only the API's no-op proxy is there."""
    with _lock:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            return current
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
        return provider


def tracer(name: str) -> trace.Tracer:
    return tracer_provider().get_tracer(name)
