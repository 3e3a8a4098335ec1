"""The real thing: a ``daemons run question-answering`` process configured only by OTEL_*
variables exports its spans and metrics as OTLP/HTTP-protobuf to a loopback receiver; the
spans are on the trace of the input event's ``traceparent`` and name the daemon."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider

from processors.kafka.clients import Contracts
from processors.reference import sample_app, serve_in_thread
from processors.settings import Settings
from processors.testing.llm import openai_compatible_stub
from processors.testing.otlp import OtlpReceiver
from processors.testing.runtime import produce_events, read_topic

pytestmark = pytest.mark.kafka
KEY = "otlp-process-key"


def respond(messages: list[dict[str, Any]]) -> dict[str, Any]:
    if any(m["role"] == "tool" for m in messages):
        content = ('{"missing": "other", "metric": "money_paid", "account": "none", '
                   '"vendor": "none", "periods": [], "by_vendor": false}')  # fmt: skip
        return {"role": "assistant", "content": content}
    call = {
        "id": "c-1",
        "type": "function",
        "function": {"name": "listAccounts", "arguments": '{"tenant_id": "t-ridgeline"}'},
    }
    return {"role": "assistant", "content": None, "tool_calls": [call]}  # fmt: skip


def test_daemons_run_exports_otlp_configured_by_the_environment(
    isolated: Settings, topics: Contracts, tmp_path: Path
) -> None:
    provider = TracerProvider()
    event = {
        "event_id": f"q-{uuid.uuid4().hex[:8]}", "tenant_id": "t-ridgeline",
        "principal_id": "u-ridgeline-owner", "occurred_at": dt.datetime.now(dt.UTC),
        "question_id": "q1", "question": "What will revenue be next year?",
        "conversation_id": None,
    }  # fmt: skip
    with provider.get_tracer("upstream").start_as_current_span("upstream send") as upstream:
        produce_events(isolated, topics, "questions.asked", [event])
    trace_id = upstream.get_span_context().trace_id.to_bytes(16, "big")
    with (
        OtlpReceiver() as receiver,
        serve_in_thread(sample_app(KEY.encode())) as api,
        openai_compatible_stub(respond) as llm,
    ):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
            "KAFKA_BOOTSTRAP_SERVERS": isolated.kafka.bootstrap_servers,
            "DAEMONS_TOPIC_PREFIX": isolated.topic_prefix,
            "DAEMONS_MODEL": f"openai-compatible:{llm}#stub",
            "DAEMONS_TOOLS_URL": api,
            "DAEMONS_TOOLS_SIGNING_KEY": KEY,
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=ci",
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "OTEL_BSP_SCHEDULE_DELAY": "200",
        }
        group = f"qa-otlp-{uuid.uuid4().hex[:8]}"
        log = tmp_path / "daemon.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", "processors", "run", "question-answering", "--group-id", group],
            env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            (answer,) = read_topic(isolated, topics, "questions.answered", 1, timeout=90)
            assert answer["value"]["event_id"] == event["event_id"], log.read_text()[-2000:]
            deadline = time.monotonic() + 15
            while "/v1/metrics" not in receiver.bodies and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, log.read_text()[-3000:]

    spans, resources = [], []
    for body in receiver.bodies["/v1/traces"]:
        for resource_spans in ExportTraceServiceRequest.FromString(body).resource_spans:
            resources.append(
                {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            )
            spans.extend(s for scope in resource_spans.scope_spans for s in scope.spans)
    assert {
        "process questions.asked", "invoke_agent question-answering", "chat stub",
        "execute_tool listAccounts", "GET /tenants/{tenant_id}/accounts",
        "guardrails question-answering",
    } <= {s.name for s in spans}  # fmt: skip
    agent = next(s for s in spans if s.name == "invoke_agent question-answering")
    assert agent.trace_id == trace_id
    assert {s.trace_id for s in spans if s.name.startswith(("process", "send", "chat"))} == {
        trace_id
    }
    chat = next(s for s in spans if s.name == "chat stub")
    chat_attributes = {a.key: a.value for a in chat.attributes}
    assert chat_attributes["server.address"].string_value == "127.0.0.1"
    assert chat_attributes["gen_ai.request.model"].string_value == "stub"
    assert chat_attributes["gen_ai.usage.input_tokens"].int_value >= 0
    assert all(r["service.name"] == "question-answering" for r in resources)
    assert all(r["messaging.consumer.group.name"] == group for r in resources)
    assert all(r["deployment.environment.name"] == "ci" for r in resources)
    names: set[str] = set()
    for body in receiver.bodies["/v1/metrics"]:
        for resource_metrics in ExportMetricsServiceRequest.FromString(body).resource_metrics:
            names.update(m.name for sm in resource_metrics.scope_metrics for m in sm.metrics)
    assert {"daemons.events.consumed", "daemons.agent.runs", "daemons.agent.tokens"} <= names
