"""processors.telemetry.configure reads the standard OTEL_* variables: exporters, resource,
sampling, protocol; nothing is exported unless asked for."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from processors import telemetry
from processors.errors import ConfigError

_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER",
    "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_SDK_DISABLED",
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
)  # fmt: skip


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_without_an_endpoint_nothing_is_exported_and_the_daemon_names_the_service() -> None:
    otel = telemetry.configure("vendor-enrichment", "vendor-enrichment", install=False)
    assert otel.exporters == () and otel.metric_exporters == ()
    attributes = otel.resource.attributes
    assert attributes["service.name"] == "vendor-enrichment"
    assert attributes["messaging.consumer.group.name"] == "vendor-enrichment"
    assert attributes["service.version"] == telemetry.package_version()
    assert not telemetry.capture_message_content()


def test_the_environment_overrides_service_name_and_resource_attributes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "enricher-eu")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.version=9.9,team=books")
    otel = telemetry.configure("vendor-enrichment", "g", version="1.0", install=False)
    attributes = otel.resource.attributes
    assert attributes["service.name"] == "enricher-eu"
    assert attributes["service.version"] == "9.9" and attributes["team"] == "books"
    assert attributes["daemons.daemon"] == "vendor-enrichment"


def test_exporters_are_chosen_by_otel_traces_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1")
    assert telemetry.configure("d", "g", install=False).exporters == ("otlp",)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console")
    assert telemetry.configure("d", "g", install=False).exporters == ("console",)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert telemetry.configure("d", "g", install=False).exporters == ()
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "zipkin")
    with pytest.raises(ConfigError, match="zipkin"):
        telemetry.configure("d", "g", install=False)


def test_only_http_protobuf_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(ConfigError, match="http/protobuf"):
        telemetry.configure("d", "g", install=False)


def test_sampling_follows_otel_traces_sampler(monkeypatch: pytest.MonkeyPatch) -> None:
    exporter = InMemorySpanExporter()
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0")
    otel = telemetry.configure("d", "g", span_exporters=[exporter], install=False)
    with otel.tracer_provider.get_tracer("t").start_as_current_span("dropped"):
        pass
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "1")
    otel = telemetry.configure("d", "g", span_exporters=[exporter], install=False)
    with otel.tracer_provider.get_tracer("t").start_as_current_span("kept"):
        pass
    assert [s.name for s in exporter.get_finished_spans()] == ["kept"]


def test_in_memory_readers_see_the_metrics_with_the_resource() -> None:
    reader = InMemoryMetricReader()
    otel = telemetry.configure("d", "g", metric_readers=[reader], install=False)
    otel.meter_provider.get_meter("t").create_counter("c").add(2)
    data = reader.get_metrics_data()
    assert data is not None
    (resource_metrics,) = data.resource_metrics
    assert resource_metrics.resource.attributes["service.name"] == "d"
    otel.shutdown()
    otel.shutdown()  # idempotent


def test_message_content_capture_is_an_explicit_opt_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "yes")
    assert not telemetry.capture_message_content()
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "TRUE")
    assert telemetry.capture_message_content()


def test_the_prometheus_endpoint_reads_the_configured_provider_once() -> None:
    from processors.runtime.metrics import RuntimeMetrics, record_verdict

    reader = InMemoryMetricReader()  # stands in for the OTLP exporter's reader
    otel = telemetry.configure("prom-d", "prom-g", metric_readers=[reader], install=False)
    metrics = RuntimeMetrics("prom-d", "prom-g", otel.meter_provider, otel.prometheus)
    metrics.consumed("in", 0)
    record_verdict("prom-d", "needs_review")
    text = metrics.render_prometheus()
    labels = 'daemon="prom-d",consumer_group="prom-g"'
    assert f'daemons_events_consumed_total{{{labels},topic="in",partition="0"}} 1' in text
    assert f'daemons_guardrail_verdicts_total{{{labels},verdict="needs_review"}} 1' in text
    data = reader.get_metrics_data()
    assert data is not None
    exported = {
        m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
    }
    (point,) = exported["daemons.events.consumed"].data.data_points
    assert point.value == 1  # counted once, not once per provider
