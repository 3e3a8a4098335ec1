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
    carrier: dict[str, str] = {}
    propagate.inject(carrier, context=context)
    kept = [(k, v) for k, v in (headers or []) if k not in _TRACE_KEYS]
    added: Headers = [(k, v.encode()) for k, v in carrier.items()]
    return kept + added


def extract_context(headers: Sequence[tuple[str, str | bytes | None]] | None) -> Context:
    """The trace context carried by a consumed message (empty context if none)."""
    carrier = {
        k: v.decode("latin-1") if isinstance(v, bytes) else v
        for k, v in (headers or [])
        if k in _TRACE_KEYS and v is not None
    }
    return propagate.extract(carrier)
