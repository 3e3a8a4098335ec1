"""Prompt-cache figures travel from the provider's answer to every place a run is reported:
the model-call records and the run's totals, the ``chat`` span (GenAI cache attributes), the
published Avro run record (old records without the fields still decode) and the decision
metrics."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import fastavro
import httpx
import pytest
from agent_support import EVENT, GOOD_ANSWER, ctx, make_agent, search_tool

from processors.agent.chat import Meter
from processors.agent.limits import Budget, Limits
from processors.agent.record import RunRecord
from processors.llm.config import LLMSettings
from processors.llm.fakes import ScriptedModel, call, reply, tool_calls
from processors.llm.model import (
    ModelRequest,
    ModelResponse,
    SystemMessage,
    ToolSpec,
    Usage,
    UserMessage,
)
from processors.llm.registry import load_model
from processors.runtime.metrics import ModelUsage, RuntimeMetrics, record_run
from processors.serde import AvroCodec, SchemaSet
from processors.serde.schemas import AvroSchema

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "schemas" / "run_record.avsc"
PUBLISHED_PATH = ROOT / "tests" / "schema_snapshots" / "run_record.avsc"
RUN_RECORD = "processdaemons.system.RunRecord"
CACHE_READ = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION = "gen_ai.usage.cache_creation.input_tokens"
NEW_FIELDS = ("cached_input_tokens", "cache_write_tokens")


def cached_run(tracer: Any = None) -> RunRecord:
    """Two turns: the first writes the prefix to the cache, the second reads it back."""
    model = ScriptedModel(
        [
            ModelResponse(
                message=tool_calls(call("search_directory", {"query": "ACME"}, id="c1")),
                usage=Usage(input_tokens=2100, output_tokens=15, cache_write_tokens=2048),
                model="claude-sonnet-4-5-20250929",
                finish_reason="tool_calls",
                cost_usd=0.0081,
            ),
            ModelResponse(
                message=reply(GOOD_ANSWER),
                usage=Usage(input_tokens=2180, output_tokens=40, cached_input_tokens=2048),
                model="claude-sonnet-4-5-20250929",
                finish_reason="stop",
                cost_usd=0.0016,
            ),
        ],
        name="anthropic:claude-sonnet-4-5",
    )
    agent = make_agent(model, [search_tool()], tracer=tracer)
    with model:
        return asyncio.run(agent.run(EVENT, ctx())).record


def test_model_calls_and_totals_carry_cache_reads_and_writes() -> None:
    record = cached_run()
    first, second = record.model_calls
    assert (first.input_tokens, first.cached_input_tokens, first.cache_write_tokens) == (
        2100, 0, 2048,
    )  # fmt: skip
    assert (second.input_tokens, second.cached_input_tokens, second.cache_write_tokens) == (
        2180, 2048, 0,
    )  # fmt: skip
    totals = record.totals
    assert (totals.input_tokens, totals.cached_input_tokens, totals.cache_write_tokens) == (
        4280, 2048, 2048,
    )  # fmt: skip
    assert RunRecord.model_validate_json(record.model_dump_json()) == record


def test_chat_spans_carry_the_genai_cache_attributes_only_when_non_zero(spans: Any) -> None:
    tracer, exporter = spans
    cached_run(tracer)
    first, second = [s.attributes or {} for s in exporter.get_finished_spans()
                     if s.name == "chat claude-sonnet-4-5"]  # fmt: skip
    assert first[CACHE_CREATION] == 2048 and CACHE_READ not in first
    assert second[CACHE_READ] == 2048 and CACHE_CREATION not in second
    assert second["gen_ai.usage.input_tokens"] == 2180  # the whole prompt, cached part included


def test_a_recorded_anthropic_answer_reaches_the_record_and_the_span(spans: Any) -> None:
    tracer, exporter = spans
    answer = {
        "id": "msg_01Cache", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": "done"}],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 57, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 2048, "output_tokens": 120},
    }  # fmt: skip
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=answer))
    )
    settings = LLMSettings.from_env({"ANTHROPIC_API_KEY": "sk-ant-test-cache"})
    model = load_model("anthropic:claude-sonnet-4-5", settings, client=client)
    record = RunRecord.open(daemon="d", model=model.name, ctx=ctx(), prompts={"p": "v1"})
    meter = Meter(Budget(Limits(), run_id="run-1"), record, tracer, clock=lambda: 0.0)
    request = ModelRequest(
        messages=(SystemMessage(content="rules"), UserMessage(content="event")),
        tools=(ToolSpec(name="t", description="T", parameters={}),),
        cache_prefix=1,
    )
    response = asyncio.run(
        meter.chat(model, request, purpose="execute", turn=1, prompt_version="v")
    )
    [call_record] = record.model_calls
    assert (call_record.input_tokens, call_record.cached_input_tokens) == (2105, 2048)
    assert call_record.cache_write_tokens == 0
    assert call_record.cost_usd == response.cost_usd
    assert response.cost_usd == pytest.approx((57 * 3.0 + 2048 * 0.3 + 120 * 15.0) / 1e6)
    [span] = exporter.get_finished_spans()
    assert (span.attributes or {})[CACHE_READ] == 2048
    assert CACHE_CREATION not in (span.attributes or {})


# ---- the published Avro run record ----------------------------------------------------------


def _write(schema: Any, datum: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), datum)
    return buffer.getvalue()


def _without_new_fields(schema: dict[str, Any]) -> dict[str, Any]:
    """The run record schema as it was before the cache fields (they are the only change)."""
    old = json.loads(json.dumps(schema))
    old["fields"] = [f for f in old["fields"] if f["name"] not in NEW_FIELDS]
    call = next(f for f in old["fields"] if f["name"] == "model_calls")["type"]["items"]
    call["fields"] = [f for f in call["fields"] if f["name"] not in NEW_FIELDS]
    return old


def test_run_record_round_trips_through_avro_with_the_cache_fields() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    datum = cached_run().to_avro()
    decoded = fastavro.schemaless_reader(
        io.BytesIO(_write(schema, datum)), fastavro.parse_schema(schema), None
    )
    assert (decoded["cached_input_tokens"], decoded["cache_write_tokens"]) == (2048, 2048)
    first, second = decoded["model_calls"]
    assert (first["cached_input_tokens"], first["cache_write_tokens"]) == (0, 2048)
    assert (second["cached_input_tokens"], second["cache_write_tokens"]) == (2048, 0)


def test_old_run_records_without_the_cache_fields_still_decode() -> None:
    current = json.loads(SCHEMA_PATH.read_text())
    datum = cached_run().to_avro()
    for old in (_without_new_fields(current), json.loads(PUBLISHED_PATH.read_text())):
        writer = AvroSchema.from_json(old, PUBLISHED_PATH)
        reader = AvroSchema.from_json(current, SCHEMA_PATH)
        assert writer.fingerprint != reader.fingerprint
        codec = AvroCodec(SchemaSet([writer, reader]))  # by name: the current one reads
        data = b"\xc3\x01" + writer.fingerprint + _write(old, datum)
        decoded = codec.decode(data, reader_name=RUN_RECORD)
        assert decoded["run_id"] == "run-1" and decoded["input_tokens"] == 4280
        assert (decoded["cached_input_tokens"], decoded["cache_write_tokens"]) == (0, 0)
        assert [c["cached_input_tokens"] for c in decoded["model_calls"]] == [0, 0]


# ---- decision metrics -----------------------------------------------------------------------


def test_decision_metrics_count_cache_reads_and_writes_as_token_types() -> None:
    metrics = RuntimeMetrics("cache-daemon", "cache-group")
    record_run(
        "cache-daemon",
        model="anthropic:claude-sonnet-4-5",
        outcome="completed",
        seconds=1.0,
        usage=[
            ModelUsage("claude-sonnet-4-5", 2100, 15, 0.0081, cache_write_tokens=2048),
            ModelUsage("claude-sonnet-4-5", 2180, 40, 0.0016, cached_input_tokens=2048),
            ModelUsage("gpt-4.1-mini", 10, 2, 0.0),  # the loop's positional call still works
        ],
    )
    text = metrics.render_prometheus()
    base = 'daemon="cache-daemon",consumer_group="cache-group"'
    tokens = "daemons_agent_tokens_total"
    assert f'{tokens}{{{base},model="claude-sonnet-4-5",token_type="input"}} 4280' in text
    assert f'{tokens}{{{base},model="claude-sonnet-4-5",token_type="cache_read"}} 2048' in text
    assert f'{tokens}{{{base},model="claude-sonnet-4-5",token_type="cache_write"}} 2048' in text
    assert f'{tokens}{{{base},model="gpt-4.1-mini",token_type="input"}} 10' in text
    assert 'model="gpt-4.1-mini",token_type="cache' not in text  # nothing reported, no series
