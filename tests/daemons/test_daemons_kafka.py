"""The three daemons end to end through the real broker and the reference API over real HTTP,
with a function model playing the LLM: one event in → exactly one result, one guardrail
outcome and one run record out, all on the upstream producer's trace; an unknown tenant is
dead-lettered with its run never started."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from processors.daemons import registry
from processors.daemons.base import Environment, build_daemon
from processors.daemons.environment import ApiTenantDirectory
from processors.kafka.clients import Contracts
from processors.llm.fakes import FunctionModel, call, reply, tool_calls
from processors.llm.model import AssistantMessage, ModelRequest, ToolResultMessage
from processors.reference import sample_app, serve_in_thread
from processors.runtime.runner import Runner
from processors.serde.json_codec import from_json
from processors.settings import Settings
from processors.testing.runtime import RunnerThread, produce_events, read_topic
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.openapi import OpenAPISource, load_document

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]
KEY = "e2e-signing-key"

# What the played model does per daemon: first a read tool (evidence first), then an honest
# "could not establish" answer that the deterministic checks accept.
FIRST_CALL = {
    "vendor-enrichment": lambda e: call("searchDirectory", {"query": e["raw_descriptor"]}),
    "client-onboarding": lambda e: call("getClient", {"tenant_id": e["tenant_id"]}),
    "question-answering": lambda e: call("listAccounts", {"tenant_id": e["tenant_id"]}),
}
FINAL: dict[str, dict[str, Any]] = {
    "vendor-enrichment": {  # the model's choice; the daemon copies the chosen entry's values
        "business_id": None, "existing_vendor_id": None, "name": None, "account_category": None,
    },
    "client-onboarding": {"answers": []},
    "question-answering": {  # the model's query: the books lack the data (code writes why)
        "missing": "other", "metric": "money_paid", "account": "none", "vendor": "none",
        "periods": [], "by_vendor": False,
    },
}  # fmt: skip


def _samples(topic: str) -> Path:
    """The sample events of the daemon reading ``topic``."""
    found = [u.samples for u in registry.use_cases() if u.input_topic == topic and u.samples]
    assert found, f"no daemon with samples reads {topic}"
    return found[0]


def played_model(name: str, event: dict[str, Any]) -> FunctionModel:
    def respond(request: ModelRequest) -> AssistantMessage:
        if not any(isinstance(m, ToolResultMessage) for m in request.messages):
            return tool_calls(FIRST_CALL[name](event))
        return reply(FINAL[name])

    return FunctionModel(respond, name=f"function:{name}")


@pytest.fixture
def api() -> Iterator[str]:
    with serve_in_thread(sample_app(KEY.encode())) as url:
        yield url


def _sample(topic: str) -> dict[str, Any]:
    line = _samples(topic).read_text().splitlines()[0]
    return dict(json.loads(line))


def _environment(url: str, model: FunctionModel, tracer_provider: TracerProvider) -> Environment:
    credentials = HmacCredentialProvider(HmacCredentialSettings(key=KEY))  # type: ignore[arg-type]
    source = OpenAPISource(
        load_document(f"{url}/openapi.json"), base_url=url,
        client=httpx.AsyncClient(), credentials=credentials,
    )  # fmt: skip
    return Environment(
        model=model, tool_sources=[source], tenants=ApiTenantDirectory(source["getClient"]),
        tracer=tracer_provider.get_tracer("daemons"),
    )  # fmt: skip


@pytest.mark.parametrize("name", registry.names(of="process-daemons"))
def test_one_event_yields_one_result_outcome_and_run_record_on_one_trace(
    name: str, api: str, isolated: Settings, topics: Contracts
) -> None:
    use_case = registry.use_case(name)
    spec = topics.catalog.get(use_case.input_topic)
    raw = _sample(use_case.input_topic)
    event = from_json(topics.schemas.get(spec.value_schema).parsed, raw)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    upstream = provider.get_tracer("upstream")
    with upstream.start_as_current_span("upstream send", kind=SpanKind.PRODUCER) as span:
        produce_events(isolated, topics, use_case.input_topic, [event])
    trace_id = format(span.get_span_context().trace_id, "032x")

    daemon = build_daemon(use_case, _environment(api, played_model(name, raw), provider))
    daemon = dataclasses.replace(daemon, group_id=f"{name}-{uuid.uuid4().hex[:8]}")
    runner = Runner(daemon, isolated, topics, tracer=provider.get_tracer("runtime"))
    with RunnerThread(runner):
        (result,) = read_topic(isolated, topics, use_case.output_topic, expected=1)
        (outcome,) = read_topic(isolated, topics, "guardrails.outcomes", expected=1)
        (run,) = read_topic(isolated, topics, "daemons.runs", expected=1)

    assert outcome["value"]["verdict"] == "pass", outcome["value"]["reasons"]
    for record in (result, outcome, run):
        assert record["value"]["event_id"] == raw["event_id"]
        assert record["value"]["trace_id"] == trace_id
        assert record["headers"]["traceparent"].decode().split("-")[1] == trace_id
    assert result["value"]["run_id"] == outcome["value"]["run_id"] == run["value"]["run_id"]
    # the reads a daemon makes by code come first (the tenant's context, then this event's);
    # a daemon without them: the model's call
    gathered = [c.name for c in use_case.context]
    gathered += [c.name for c in use_case.gather(raw)] if use_case.gather else []
    expected = gathered or [FIRST_CALL[name](raw).name]
    assert [c["name"] for c in run["value"]["tool_calls"]] == expected

    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}

    def parent_name(s: Any) -> str | None:
        return by_id[s.parent.span_id].name if s.parent and s.parent.span_id in by_id else None

    names = {s.name.split(" ")[0] for s in spans}
    assert {"process", "invoke_agent", "chat", "execute_tool", "guardrails"} <= names
    agent = next(s for s in spans if s.name.startswith("invoke_agent"))
    assert parent_name(agent) == f"process {use_case.input_topic}"
    # each output is a send event of the consumer span, which its headers name as parent
    process = next(s for s in spans if s.name.startswith("process "))
    physical = topics.catalog.physical
    outputs = (use_case.output_topic, "guardrails.outcomes", "daemons.runs")
    assert {f"send {physical(t)}" for t in outputs} <= {e.name for e in process.events}
    for record in (result, outcome, run):
        assert record["headers"]["traceparent"].decode().split("-")[2] == (
            f"{process.context.span_id:016x}"
        )
    assert all(parent_name(s) == agent.name for s in spans if s.name.startswith("chat"))
    assert all(s.context.trace_id == span.get_span_context().trace_id for s in spans)


def test_an_event_for_an_unknown_tenant_is_dead_lettered(
    api: str, isolated: Settings, topics: Contracts
) -> None:
    name = "question-answering"
    use_case = registry.use_case(name)
    raw = {**_sample(use_case.input_topic), "tenant_id": "t-nobody", "event_id": "evt-unknown"}
    spec = topics.catalog.get(use_case.input_topic)
    event = from_json(topics.schemas.get(spec.value_schema).parsed, raw)
    produce_events(isolated, topics, use_case.input_topic, [event])
    model = played_model(name, raw)
    daemon = build_daemon(use_case, _environment(api, model, TracerProvider()))
    daemon = dataclasses.replace(daemon, group_id=f"{name}-{uuid.uuid4().hex[:8]}")
    with RunnerThread(Runner(daemon, isolated, topics)):
        (letter,) = read_topic(isolated, topics, f"{name}.dlq", expected=1)
    assert letter["value"]["error_type"] == "UnknownTenant"
    assert letter["value"]["event_id"] == "evt-unknown"
    assert model.requests == []  # refused before any model call
