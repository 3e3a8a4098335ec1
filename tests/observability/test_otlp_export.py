"""Real OTLP/HTTP-protobuf export, configured only by the standard OTEL_* variables: a daemon
processes one event through the real broker and a loopback receiver gets the spans (and the
metrics), which decode as OTLP with our resource attributes and the event's trace id."""

from __future__ import annotations

from typing import Any

import pytest
from observability_support import DAEMON, KEY, sample_event, vendor_daemon
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import SpanKind

from processors import telemetry
from processors.kafka.clients import Contracts
from processors.reference import sample_app, serve_in_thread
from processors.runtime.metrics import RuntimeMetrics
from processors.runtime.runner import Runner
from processors.serde.json_codec import from_json
from processors.settings import Settings
from processors.testing.otlp import OtlpReceiver
from processors.testing.runtime import RunnerThread, produce_events, read_topic


def _attributes(items: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kv in items:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


@pytest.mark.kafka
def test_a_daemon_exports_its_spans_and_metrics_as_otlp_http_protobuf(
    isolated: Settings, topics: Contracts, monkeypatch: pytest.MonkeyPatch
) -> None:
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
        monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
        monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
        monkeypatch.delenv("OTEL_METRICS_EXPORTER", raising=False)
        monkeypatch.setenv("OTEL_TRACES_SAMPLER", "parentbased_always_on")
        otel = telemetry.configure(DAEMON, "vendor-enrichment-otlp", install=False)
        assert otel.exporters == ("otlp",) and otel.metric_exporters == ("otlp",)

        provider = otel.tracer_provider
        raw = sample_event()
        spec = topics.catalog.get("vendors.discovered")
        event = from_json(topics.schemas.get(spec.value_schema).parsed, raw)
        with provider.get_tracer("upstream").start_as_current_span(
            "upstream send", kind=SpanKind.PRODUCER
        ) as root:
            produce_events(isolated, topics, "vendors.discovered", [event])
        trace_id = root.get_span_context().trace_id.to_bytes(16, "big")

        with serve_in_thread(sample_app(KEY.encode(), tracer=provider.get_tracer("api"))) as url:
            daemon = vendor_daemon(url, provider, raw)
            metrics = RuntimeMetrics(daemon.name, daemon.group_id, otel.meter_provider)
            runner = Runner(
                daemon, isolated, topics, tracer=provider.get_tracer("runtime"), metrics=metrics
            )
            with RunnerThread(runner):
                read_topic(isolated, topics, "daemons.runs", expected=1)
        otel.shutdown()  # flushes the batch span processor and the periodic metric reader

    assert receiver.content_types == {"application/x-protobuf"}
    spans: list[tuple[dict[str, Any], Any]] = []
    for body in receiver.bodies["/v1/traces"]:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope in resource_spans.scope_spans:
                spans.extend((resource, span) for span in scope.spans)
    names = {span.name for _, span in spans}
    assert {
        "upstream send", "process vendors.discovered", f"invoke_agent {DAEMON}", "plan",
        f"chat {DAEMON}", "execute_tool searchDirectory", "GET /directory/search",
        f"guardrails {DAEMON}",
    } <= names  # fmt: skip
    resource = spans[0][0]
    assert resource["service.name"] == DAEMON
    assert resource["daemons.daemon"] == DAEMON
    assert resource["messaging.consumer.group.name"] == "vendor-enrichment-otlp"
    assert resource["service.version"] == telemetry.package_version()
    assert resource["deployment.environment.name"] == "test"
    on_trace = [span for _, span in spans if span.name != "GET /openapi.json"]
    assert {span.trace_id for span in on_trace} == {trace_id}
    agent = next(span for _, span in spans if span.name == f"invoke_agent {DAEMON}")
    assert _attributes(agent.attributes)["gen_ai.agent.name"] == DAEMON

    metric_names: set[str] = set()
    for body in receiver.bodies["/v1/metrics"]:
        for resource_metrics in ExportMetricsServiceRequest.FromString(body).resource_metrics:
            for scope in resource_metrics.scope_metrics:
                metric_names.update(m.name for m in scope.metrics)
    assert {"daemons.events.consumed", "daemons.agent.runs", "daemons.agent.tokens"} <= (
        metric_names
    )
