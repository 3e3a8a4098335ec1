"""OpenTelemetry set-up. Spans are always real (trace ids propagate through Kafka headers even
when nothing is exported); exporting is configured by the standard ``OTEL_*`` variables.

:func:`configure` is called once by ``daemons run`` (before anything creates a tracer or a
meter) and installs the global providers:

- resource: ``service.name`` = the daemon (``OTEL_SERVICE_NAME`` wins), ``service.version``,
  ``service.namespace``, ``daemons.daemon``, ``messaging.consumer.group.name``, then whatever
  ``OTEL_RESOURCE_ATTRIBUTES`` says (it wins over our defaults);
- sampling: the SDK's own reading of ``OTEL_TRACES_SAMPLER`` / ``OTEL_TRACES_SAMPLER_ARG``;
- ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER``: comma lists of ``otlp`` (HTTP/protobuf
  to ``OTEL_EXPORTER_OTLP_ENDPOINT`` + ``/v1/traces`` / ``/v1/metrics``), ``console`` or
  ``none``. Unset: ``otlp`` when an OTLP endpoint is configured, else ``none`` — a daemon never
  sprays export errors at a collector nobody runs;
- ``OTEL_SDK_DISABLED=true``: the SDK hands out no-op tracers (nothing recorded).

Whatever the exporters, the provider always has a
:class:`~processors.telemetry.progress.ProgressTracker` (``Telemetry.progress``): it keeps, per
in-flight event, the stage its spans say it is in, for the health server's ``/progress``.

Tests pass ``span_exporters`` / ``metric_readers`` (in-memory) and ``install=False``.
Prompt and completion text goes on spans only when
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` (:func:`capture_message_content`).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata

from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    InMemoryMetricReader,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)

from processors.errors import ConfigError
from processors.telemetry.progress import ProgressTracker

_lock = threading.Lock()
CAPTURE_CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
_EXPORTERS = frozenset({"otlp", "console", "none"})


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


def capture_message_content(environ: Mapping[str, str] | None = None) -> bool:
    """Whether prompt/completion text may go on spans (opt-in, off by default)."""
    value = (environ if environ is not None else os.environ).get(CAPTURE_CONTENT_ENV, "")
    return value.strip().lower() == "true"


def package_version() -> str:
    try:
        return metadata.version("process-daemons")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass
class Telemetry:
    """The configured providers; :meth:`shutdown` flushes what is still buffered."""

    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    resource: Resource
    exporters: tuple[str, ...]
    metric_exporters: tuple[str, ...]
    prometheus: InMemoryMetricReader  # what /metrics renders (RuntimeMetrics(reader=...))
    progress: ProgressTracker  # what /progress serves (HealthServer(progress=...snapshot))
    _closed: bool = field(default=False, repr=False)

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


def resource_for(daemon: str, group_id: str | None, *, version: str | None = None) -> Resource:
    """Our defaults, overridden by ``OTEL_RESOURCE_ATTRIBUTES`` / ``OTEL_SERVICE_NAME``.
    ``group_id`` ``None``: a service that is not a daemon (the reference API)."""
    defaults: dict[str, str] = {
        "service.name": daemon,
        "service.namespace": "process-daemons",
        "service.version": version or package_version(),
        "service.instance.id": uuid.uuid4().hex,
    }
    if group_id is not None:
        defaults.update({"daemons.daemon": daemon, "messaging.consumer.group.name": group_id})
    from_env = OTELResourceDetector().detect().attributes
    return Resource.create({**defaults, **from_env})


def configure(
    daemon: str,
    group_id: str | None,
    *,
    version: str | None = None,
    span_exporters: Sequence[SpanExporter] = (),
    metric_readers: Sequence[MetricReader] = (),
    install: bool = True,
) -> Telemetry:
    """Build (and with ``install`` set as global) the tracer and meter providers from env."""
    resource = resource_for(daemon, group_id, version=version)
    names = _exporters("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    metric_names = _exporters("OTEL_METRICS_EXPORTER", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
    _check_protocol()
    provider = TracerProvider(resource=resource)  # sampler: OTEL_TRACES_SAMPLER(_ARG)
    progress = ProgressTracker()  # first: cheap, and it sees each span before any export
    provider.add_span_processor(progress)
    if "otlp" in names:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if "console" in names:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    for exporter in span_exporters:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    prometheus = InMemoryMetricReader()
    readers = [prometheus, *metric_readers]
    if "otlp" in metric_names:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter()))
    if "console" in metric_names:
        readers.append(PeriodicExportingMetricReader(ConsoleMetricExporter()))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    if install:
        with _lock:
            trace.set_tracer_provider(provider)
            metrics.set_meter_provider(meter_provider)
    return Telemetry(provider, meter_provider, resource, names, metric_names, prometheus, progress)


def _exporters(variable: str, signal_endpoint: str) -> tuple[str, ...]:
    raw = os.environ.get(variable)
    if raw is None or not raw.strip():
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get(signal_endpoint)
        return ("otlp",) if endpoint else ()
    names = tuple(dict.fromkeys(n.strip().lower() for n in raw.split(",") if n.strip()))
    unknown = sorted(set(names) - _EXPORTERS)
    if unknown:
        raise ConfigError(f"{variable}: unsupported exporter(s) {unknown}; use otlp|console|none")
    return tuple(n for n in names if n != "none")


def _check_protocol() -> None:
    for variable in ("OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"):
        protocol = os.environ.get(variable)
        if protocol and protocol != "http/protobuf":
            raise ConfigError(f"{variable}={protocol}: only http/protobuf is supported")
