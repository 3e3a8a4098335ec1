"""GenAI span attributes without a broker: model, prompt version and parameters on the spans
and in the record; message content only when opted in, and redacted even then; decision
metrics per daemon and model on the Prometheus endpoint."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel

from processors.agent import Agent, Prompt
from processors.agent.fakes import FunctionTool
from processors.llm.fakes import ScriptedModel, call, reply, tool_calls
from processors.llm.model import ModelResponse, ModelSettings, Usage
from processors.runtime.metrics import RuntimeMetrics, record_verdict
from processors.tools.base import CallContext

SECRET = "sk-live-ABCDEF1234567890"


class Answer(BaseModel):
    name: str


def _agent(model: Any, exporter: InMemorySpanExporter, **kwargs: Any) -> Agent[Answer]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    def lookup(arguments: dict[str, Any], ctx: CallContext) -> Any:
        return {"name": "Acme", "note": f"api_key={SECRET}"}

    tool = FunctionTool(
        "lookup", lookup, description="Look a vendor up.",
        input_schema={"type": "object", "properties": {"q": {"type": "string"}}},
    )  # fmt: skip
    return Agent(
        daemon="obs-daemon", model=model, tools=[tool], output_type=Answer,
        instructions=Prompt.from_text("Be exact.", name="instructions"),
        task=Prompt.from_text("Vendor: {vendor}", name="task"),
        settings=ModelSettings(temperature=0.2, max_tokens=256, seed=7),
        tracer=provider.get_tracer("t"), **kwargs,
    )  # fmt: skip


def _model() -> ScriptedModel:
    return ScriptedModel(
        [
            ModelResponse(
                message=tool_calls(call("lookup", {"q": f"Bearer {SECRET}"}, id="c1")),
                usage=Usage(input_tokens=40, output_tokens=5), model="m-2025", cost_usd=0.5,
            ),
            ModelResponse(
                message=reply({"name": "Acme"}), usage=Usage(input_tokens=60, output_tokens=7),
                model="m-2025", cost_usd=0.25, finish_reason="stop",
            ),
        ],
        name="openai:m",
    )  # fmt: skip


def _ctx() -> CallContext:
    return CallContext(tenant_id="t1", principal_id="u1", event_id="e1")


def test_spans_and_record_name_model_prompt_version_and_parameters(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)
    exporter = InMemorySpanExporter()
    with _model() as model:
        record = asyncio.run(_agent(model, exporter).run({"vendor": "ACME"}, _ctx())).record
    spans = {s.name: s for s in exporter.get_finished_spans()}
    agent = spans["invoke_agent obs-daemon"].attributes or {}
    chat = spans["chat m"].attributes or {}
    assert agent["gen_ai.request.model"] == "m" and agent["gen_ai.provider.name"] == "openai"
    assert agent["daemons.prompt.version"] == record.prompt_version
    assert agent["daemons.prompt.task"] == record.prompts["task"]
    assert agent["gen_ai.usage.input_tokens"] == 100 and agent["gen_ai.usage.output_tokens"] == 12
    assert agent["daemons.usage.cost_usd"] == 0.75
    for attributes in (agent, chat):
        assert attributes["gen_ai.request.temperature"] == 0.2
        assert attributes["gen_ai.request.max_tokens"] == 256
        assert attributes["gen_ai.request.seed"] == 7
    assert chat["daemons.prompt.version"] == record.model_calls[0].prompt_version
    assert record.parameters == {"temperature": 0.2, "max_tokens": 256, "seed": 7}
    datum = record.to_avro()
    assert json.loads(datum["parameters_json"]) == record.parameters
    assert json.loads(datum["model_calls"][0]["parameters_json"])["temperature"] == 0.2
    # content is off by default: no message text on any span
    for span in exporter.get_finished_spans():
        for key, value in (span.attributes or {}).items():
            assert not key.startswith(("gen_ai.input", "gen_ai.output", "gen_ai.system"))
            assert "Acme" not in str(value) and "ACME" not in str(value)


def test_content_is_captured_only_when_opted_in_and_never_with_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    exporter = InMemorySpanExporter()
    with _model() as model:
        asyncio.run(_agent(model, exporter).run({"vendor": "ACME"}, _ctx()))
    spans = exporter.get_finished_spans()
    first, second = [s.attributes or {} for s in spans if s.name == "chat m"]
    assert "ACME" in str(first["gen_ai.input.messages"])
    assert json.loads(str(first["gen_ai.system_instructions"]))[0]["type"] == "text"
    assert "lookup" in str(first["gen_ai.output.messages"])
    assert "Acme" in str(second["gen_ai.output.messages"])
    tool = next(s.attributes or {} for s in spans if s.name == "execute_tool lookup")
    assert "Acme" in str(tool["gen_ai.tool.call.result"])
    for span in spans:
        for value in (span.attributes or {}).values():
            assert SECRET not in str(value)


def test_decision_metrics_per_daemon_and_model_reach_the_prometheus_endpoint() -> None:
    metrics = RuntimeMetrics("obs-daemon", "obs-group")
    exporter = InMemorySpanExporter()
    with _model() as model:
        asyncio.run(_agent(model, exporter).run({"vendor": "ACME"}, _ctx()))
    record_verdict("obs-daemon", "pass")
    record_verdict("obs-daemon", "fail")
    record_verdict("other-daemon", "fail")  # someone else's: not in this daemon's scrape
    text = metrics.render_prometheus()
    base = 'daemon="obs-daemon",consumer_group="obs-group"'
    assert f'daemons_agent_runs_total{{{base},model="openai:m",outcome="completed"}} 1' in text
    assert f'daemons_agent_tokens_total{{{base},model="m-2025",token_type="input"}} 100' in text
    assert f'daemons_agent_tokens_total{{{base},model="m-2025",token_type="output"}} 12' in text
    assert f'daemons_agent_cost_usd_total{{{base},model="m-2025"}} 0.75' in text
    assert f'daemons_agent_run_seconds_count{{{base},model="openai:m",outcome="completed"}} 1' in (
        text
    )
    assert f'daemons_guardrail_verdicts_total{{{base},verdict="pass"}} 1' in text
    assert f'daemons_guardrail_verdicts_total{{{base},verdict="fail"}} 1' in text
    assert "other-daemon" not in text


def test_tool_errors_are_counted_by_tool_and_error_type() -> None:
    metrics = RuntimeMetrics("obs-daemon", "obs-errors")
    exporter = InMemorySpanExporter()
    model = ScriptedModel(
        [tool_calls(call("nope", {}, id="x1")), reply({"name": "Acme"})], name="openai:m"
    )
    with model:
        asyncio.run(_agent(model, exporter).run({"vendor": "ACME"}, _ctx()))
    text = metrics.render_prometheus()
    labels = 'daemon="obs-daemon",consumer_group="obs-errors",tool="nope",error_type="not_allowed"'
    assert f"daemons_tool_errors_total{{{labels}}} 1" in text


def test_a_failing_model_call_is_marked_and_its_message_redacted() -> None:
    from processors.errors import RateLimited
    from processors.llm.fakes import FunctionModel

    def fails(request: Any) -> Any:
        raise RateLimited(f"429 from provider, key api_key={SECRET} throttled")

    exporter = InMemorySpanExporter()
    agent = _agent(FunctionModel(fails, name="openai:m"), exporter)
    with pytest.raises(RateLimited):
        asyncio.run(agent.run({"vendor": "ACME"}, _ctx()))
    spans = {s.name: s for s in exporter.get_finished_spans()}
    for name in ("chat m", "invoke_agent obs-daemon"):
        span = spans[name]
        assert (span.attributes or {})["error.type"] == "RateLimited"
        assert not span.status.is_ok
        (event,) = [e for e in span.events if e.name == "exception"]
        message = str((event.attributes or {})["exception.message"])
        assert "429 from provider" in message and SECRET not in message
