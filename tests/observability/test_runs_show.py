"""``daemons runs show`` reads the real broker and tells the story of one decision — by event
id or run id, for a person or as JSON — and its ids lead to the trace."""

from __future__ import annotations

import json

import pytest
from observability_support import DAEMON, KEY, PLAN, sample_event, vendor_daemon
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from processors.cli import main
from processors.kafka.clients import Contracts
from processors.reference import sample_app, serve_in_thread
from processors.runtime.runner import Runner
from processors.serde.json_codec import from_json
from processors.settings import Settings
from processors.testing.runtime import RunnerThread, produce_events, read_topic

pytestmark = pytest.mark.kafka


def test_runs_show_tells_the_story_of_one_decision(
    isolated: Settings,
    topics: Contracts,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    raw = sample_event()
    other = {**raw, "event_id": "evt-other", "transaction_id": "tx-other"}
    spec = topics.catalog.get("vendors.discovered")
    schema = topics.schemas.get(spec.value_schema).parsed
    produce_events(isolated, topics, "vendors.discovered", [from_json(schema, other)])
    with provider.get_tracer("upstream").start_as_current_span("upstream send"):
        produce_events(isolated, topics, "vendors.discovered", [from_json(schema, raw)])
    with serve_in_thread(sample_app(KEY.encode())) as url:
        runner = Runner(vendor_daemon(url, provider, raw), isolated, topics)
        with RunnerThread(runner):
            runs = read_topic(isolated, topics, "daemons.runs", expected=2)
    (run,) = [r["value"] for r in runs if r["value"]["event_id"] == raw["event_id"]]

    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", isolated.kafka.bootstrap_servers)
    monkeypatch.setenv("DAEMONS_TOPIC_PREFIX", isolated.topic_prefix)
    assert main(["runs", "show", raw["event_id"], "--json"]) == 0
    (story,) = json.loads(capsys.readouterr().out)["runs"]
    assert story["run"]["run_id"] == run["run_id"] and story["run"]["daemon"] == DAEMON
    assert story["input"]["value"]["event_id"] == raw["event_id"]
    assert story["input"]["value"]["raw_descriptor"] == raw["raw_descriptor"]
    assert story["input"]["traceparent"].split("-")[1] == run["trace_id"]
    assert story["guardrail"]["verdict"] == "pass"
    assert [o["topic"] for o in story["outputs"]] == ["vendors.enriched"]
    assert story["outputs"][0]["value"]["run_id"] == run["run_id"]
    assert story["run"]["plan"][0]["steps"] == PLAN["steps"]
    assert [c["purpose"] for c in story["run"]["model_calls"]] == ["plan", "execute", "execute"]
    assert story["run"]["tool_calls"][0]["name"] == "searchDirectory"
    assert story["run"]["tool_calls"][0]["result_digest"].startswith("sha256:")
    span_ids = {f"{s.context.span_id:016x}" for s in exporter.get_finished_spans()}
    assert story["run"]["span_id"] in span_ids
    assert {c["span_id"] for c in story["run"]["model_calls"]} <= span_ids

    assert main(["runs", "show", run["run_id"]]) == 0
    text = capsys.readouterr().out
    assert f"run {run['run_id']} · {DAEMON} · completed" in text
    assert f"trace     {run['trace_id']}" in text
    assert "1. searchDirectory — find the business behind the descriptor" in text
    assert 'searchDirectory {"query":' in text and "→ sha256:" in text
    assert "guardrail pass" in text and "output    vendors.enriched:" in text
    assert "evt-other" not in text

    assert main(["runs", "show", "no-such-run"]) == 2
