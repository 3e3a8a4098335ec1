"""Trace context through Kafka headers (W3C ``traceparent``/``tracestate``/``baggage``).

Uses OpenTelemetry's global propagator API so whatever propagators the operator configured
(``OTEL_PROPAGATORS``) apply. Kafka headers are ``list[tuple[str, bytes]]``.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry import propagate
from opentelemetry.context import Context

Headers = list[tuple[str, str | bytes | None]]
_TRACE_KEYS = frozenset({"traceparent", "tracestate", "baggage"})


def inject_headers(headers: Headers | None = None, context: Context | None = None) -> Headers:
    """Return ``headers`` with the current (or given) trace context added, replacing any old
    trace headers so a record never carries two parents."""
    return with_trace(headers or [], trace_headers(context))


def trace_headers(context: Context | None = None) -> Headers:
    """The current (or given) trace context as headers, to add to many records at once
    (:func:`with_trace`)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    return [(k, v.encode()) for k, v in carrier.items()]


def with_trace(headers: Headers, traced: Headers) -> Headers:
    """``headers`` without their own trace headers, plus ``traced`` (:func:`trace_headers`)."""
    return [h for h in headers if h[0] not in _TRACE_KEYS] + traced


def extract_context(headers: Sequence[tuple[str, str | bytes | None]] | None) -> Context:
    """The trace context carried by a consumed message (empty context if none)."""
    carrier = {
        k: v.decode("latin-1") if isinstance(v, bytes) else v
        for k, v in (headers or [])
        if k in _TRACE_KEYS and v is not None
    }
    return propagate.extract(carrier)
