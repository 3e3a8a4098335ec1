"""One event end to end through the real broker, the reference API over real HTTP and played
models (planning on): the exact span tree, and one trace id shared by the input headers, the
output headers, the guardrail outcome and the run record — whose span ids lead to the spans."""

from __future__ import annotations

import json

import pytest
from observability_support import DAEMON, KEY, sample_event, span_hex, span_tree, trace_hex
from observability_support import vendor_daemon as make_daemon
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from processors.kafka.clients import Contracts
from processors.reference import sample_app, serve_in_thread
from processors.runtime.runner import Runner
from processors.serde.json_codec import from_json
from processors.settings import Settings
from processors.testing.runtime import RunnerThread, produce_events, read_topic

pytestmark = pytest.mark.kafka


def test_one_event_yields_the_exact_span_tree_on_one_trace(
    isolated: Settings, topics: Contracts
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    raw = sample_event()
    spec = topics.catalog.get("vendors.discovered")
    event = from_json(topics.schemas.get(spec.value_schema).parsed, raw)
    upstream = provider.get_tracer("upstream")
    with upstream.start_as_current_span("upstream send", kind=SpanKind.PRODUCER) as root:
        produce_events(isolated, topics, "vendors.discovered", [event])
    trace_id = f"{root.get_span_context().trace_id:032x}"

    with serve_in_thread(sample_app(KEY.encode(), tracer=provider.get_tracer("ledger"))) as url:
        daemon = make_daemon(url, provider, raw)
        runner = Runner(daemon, isolated, topics, tracer=provider.get_tracer("runtime"))
        with RunnerThread(runner):
            (result,) = read_topic(isolated, topics, "vendors.enriched", expected=1)
            (outcome,) = read_topic(isolated, topics, "guardrails.outcomes", expected=1)
            (run,) = read_topic(isolated, topics, "daemons.runs", expected=1)
    (input_record,) = read_topic(isolated, topics, "vendors.discovered", expected=1)

    spans = exporter.get_finished_spans()
    physical = topics.catalog.physical
    client = "GET /tenants/{tenant_id}/client"
    search = "GET /directory/search"
    chat = f"chat {DAEMON}"
    assert span_tree(spans) == [
        ("upstream send", "PRODUCER", (
            ("process vendors.discovered", "CONSUMER", (
                (client, "CLIENT", ((client, "SERVER", ()),)),  # the tenant check
                (f"invoke_agent {DAEMON}", "INTERNAL", (
                    ("plan", "INTERNAL", (("chat planner", "CLIENT", ()),)),
                    (chat, "CLIENT", ()),
                    ("execute_tool searchDirectory", "INTERNAL", (
                        (search, "CLIENT", ((search, "SERVER", ()),)),
                    )),
                    (chat, "CLIENT", ()),
                )),
                (f"guardrails {DAEMON}", "INTERNAL", ()),
            )),
        )),
        ("GET /openapi.json", "SERVER", ()),  # the tool catalogue, read at start: own trace
    ]  # fmt: skip

    # one trace: every span, the input and output headers, the outcome and the run record;
    # each output names the consumer span as its parent, and is an event of it
    spans = [s for s in spans if s.name != "GET /openapi.json"]
    assert {trace_hex(s) for s in spans} == {trace_id}
    for record in (input_record, result, outcome, run):
        assert record["headers"]["traceparent"].decode().split("-")[1] == trace_id
    process = next(s for s in spans if s.name == "process vendors.discovered")
    for record in (result, outcome, run):
        assert record["headers"]["traceparent"].decode().split("-")[2] == span_hex(process)
    assert [e.name for e in process.events] == [
        f"send {physical(t)}" for t in ("vendors.enriched", "guardrails.outcomes", "daemons.runs")
    ]
    for record in (result, outcome, run):
        assert record["value"]["trace_id"] == trace_id
    assert outcome["value"]["verdict"] == "pass"

    # the run record leads to its spans, and the spans name model, prompt and parameters
    by_name = {s.name: s for s in spans}
    value = run["value"]
    agent = by_name[f"invoke_agent {DAEMON}"]
    assert value["span_id"] == span_hex(agent)
    chats = [s for s in spans if s.name.startswith("chat ")]
    assert [c["span_id"] for c in value["model_calls"]] == [span_hex(s) for s in chats]
    assert [c["purpose"] for c in value["model_calls"]] == ["plan", "execute", "execute"]
    tool = by_name["execute_tool searchDirectory"]
    assert [c["span_id"] for c in value["tool_calls"]] == [span_hex(tool)]
    assert agent.attributes is not None and tool.attributes is not None
    assert agent.attributes["daemons.prompt.version"] == value["prompt_version"]
    assert json.loads(value["prompts_json"]) == {
        k.removeprefix("daemons.prompt."): v
        for k, v in agent.attributes.items()
        if k.startswith("daemons.prompt.") and k != "daemons.prompt.version"
    }
    assert value["planner_model"] == "function:planner"
    assert tool.attributes["gen_ai.tool.call.id"] == value["tool_calls"][0]["call_id"]
    http = next(s for s in spans if s.name == search and s.kind is SpanKind.CLIENT)
    assert http.attributes is not None
    assert http.attributes["http.response.status_code"] == 200
    assert http.attributes["url.full"].startswith(f"{url}/directory/search?")
    assert http.attributes["server.address"] == "127.0.0.1"
    guard = by_name[f"guardrails {DAEMON}"]
    assert guard.attributes is not None and guard.attributes["daemons.guardrail.verdict"] == "pass"
