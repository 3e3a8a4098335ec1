"""The run record: every step, with versions, usage, digests — and no secrets."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import fastavro
from agent_support import EVENT, GOOD_ANSWER, INSTRUCTIONS, TASK, ctx, make_agent, search_tool

from processors.agent.record import RunRecord, digest
from processors.llm.fakes import ScriptedModel, call, reply, tool_calls
from processors.llm.model import AssistantMessage, ModelResponse, Usage
from processors.tools.base import CallContext, ToolError
from processors.untrusted.redaction import redact

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SEARCH_RESULT = {"matches": [{"name": "Acme Corp", "website": "https://acme.example"}]}


def scripted_run() -> RunRecord:
    model = ScriptedModel(
        [
            ModelResponse(
                message=tool_calls(call("search_directory", {"query": "ACME"}, id="c1")),
                usage=Usage(input_tokens=120, output_tokens=15),
                model="gpt-test-2025",
                finish_reason="tool_calls",
                cost_usd=0.002,
            ),
            ModelResponse(
                message=reply(GOOD_ANSWER),
                usage=Usage(input_tokens=180, output_tokens=40),
                model="gpt-test-2025",
                finish_reason="stop",
                cost_usd=0.003,
            ),
        ],
        name="openai:gpt-test",
    )
    with model:
        return asyncio.run(make_agent(model).run(EVENT, ctx("run-77"))).record


def test_record_holds_ids_versions_each_model_call_each_tool_call_and_totals() -> None:
    record = scripted_run()
    ids = (record.run_id, record.daemon, record.tenant_id, record.principal_id, record.event_id)
    assert ids == ("run-77", "vendor-enricher", "t-1", "u-7", "e-42")
    assert record.model == "openai:gpt-test"
    assert record.prompts == {"enrich_sys": INSTRUCTIONS.version, "enrich_task": TASK.version}
    first, second = record.model_calls
    assert (first.purpose, first.turn, first.provider) == ("execute", 1, "openai")
    assert first.model == "gpt-test-2025"
    assert (first.input_tokens, first.output_tokens, first.cost_usd) == (120, 15, 0.002)
    assert first.finish_reason == "tool_calls" and first.requested_tools == ["search_directory"]
    assert first.prompt_version == second.prompt_version and len(first.prompt_version) == 12
    assert first.latency_s >= 0
    [tool] = record.tool_calls
    assert (tool.turn, tool.call_id, tool.name) == (1, "c1", "search_directory")
    assert json.loads(tool.arguments) == {"query": "ACME"}
    assert tool.result_digest == digest(SEARCH_RESULT) and tool.error_type is None
    assert json.loads(record.final_response or "") == GOOD_ANSWER
    totals = record.totals
    assert (totals.turns, totals.model_calls, totals.tool_calls) == (2, 2, 1)
    assert (totals.input_tokens, totals.output_tokens) == (300, 55)
    assert abs(totals.cost_usd - 0.005) < 1e-12
    assert record.outcome == "completed" and record.error_type is None


def test_record_round_trips_through_json() -> None:
    record = scripted_run()
    assert RunRecord.model_validate_json(record.model_dump_json()) == record


def test_record_encodes_as_the_published_run_record_avro_schema() -> None:
    schema = fastavro.parse_schema(json.loads((SCHEMAS / "run_record.avsc").read_text()))
    datum = scripted_run().to_avro()
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, datum)
    buffer.seek(0)
    decoded = fastavro.schemaless_reader(buffer, schema, schema)
    assert decoded["run_id"] == "run-77" and decoded["outcome"] == "completed"
    assert decoded["tool_calls"][0]["result_digest"] == digest(SEARCH_RESULT)
    assert json.loads(decoded["output_json"]) == GOOD_ANSWER


def test_record_digest_is_the_sha256_of_canonical_json_independent_of_key_order() -> None:
    assert digest({"b": 1, "a": [1, 2]}) == digest({"a": [1, 2], "b": 1})
    assert digest({"a": 1}) != digest({"a": 2})
    assert digest({"a": 1}) == (
        "sha256:015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
    )


SECRET = "sk-live-9f8e7d6c5b4a3f2e1d0c"


def test_secrets_seen_by_tools_never_reach_the_record_or_the_model() -> None:
    def leaky(arguments: dict[str, Any], ctx: CallContext) -> Any:
        # a tool that got a credential for this call and echoes it back in its result...
        if arguments["query"] == "first":
            return {"token_used": SECRET, "matches": []}
        # ...or in an error message
        raise ToolError(f"upstream rejected Authorization: Bearer {SECRET}", status=400)

    model = ScriptedModel(
        [
            tool_calls(call("search_directory", {"query": "first"}, id="c1")),
            tool_calls(call("search_directory", {"query": "second"}, id="c2")),
            reply(GOOD_ANSWER),
        ]
    )
    with model:
        record = asyncio.run(make_agent(model, [search_tool(leaky)]).run(EVENT, ctx())).record
    dumped = record.model_dump_json()
    assert SECRET not in dumped
    assert SECRET not in json.dumps(record.to_avro(), default=str)
    assert record.tool_calls[0].result_digest == digest({"token_used": SECRET, "matches": []})
    assert "[REDACTED]" in (record.tool_calls[1].error or "")
    error_to_model = model.requests[2].messages[-1]
    assert SECRET not in error_to_model.content  # type: ignore[union-attr]


def test_secret_in_a_context_field_does_not_reach_the_record() -> None:
    # CallContext carries ids only; anything else handed to it is dropped, not recorded
    context = CallContext.model_validate(
        {"tenant_id": "t", "principal_id": "p", "event_id": "e", "api_key": SECRET}
    )
    with ScriptedModel([reply(GOOD_ANSWER)]) as model:
        record = asyncio.run(make_agent(model).run(EVENT, context)).record
    assert SECRET not in record.model_dump_json()


def test_redact_masks_common_secret_shapes() -> None:
    text = f"Bearer abcdefgh123 key={SECRET} password: hunter22 ghp_abcdefghijkl ok"
    masked = redact(text)
    for secret in ("abcdefgh123", SECRET, "hunter22", "ghp_abcdefghijkl"):
        assert secret not in masked
    assert masked.endswith("ok")


def test_failed_run_record_names_the_error() -> None:
    model = ScriptedModel([AssistantMessage(content="{}")] * 3)
    from processors.errors import InvalidAgentOutput

    try:
        asyncio.run(make_agent(model).run(EVENT, ctx()))
    except InvalidAgentOutput as exc:
        record: Any = exc.record
    assert record.outcome == "failed" and record.error_type == "InvalidAgentOutput"
    assert record.to_avro()["outcome"] == "failed"
    assert record.totals.corrections == 2 and record.final_response is None


def test_the_record_carries_the_transcript_a_dataset_rebuilds_the_run_from() -> None:
    record = scripted_run()
    assert record.transcript is not None
    transcript = json.loads(record.transcript)
    kinds = [m["kind"] for m in transcript["messages"]]
    assert kinds[0] == "system" and kinds[-2:] == ["tool", "assistant"]
    call = next(m for m in transcript["messages"] if m.get("tool_calls"))["tool_calls"][0]
    assert (call["name"], call["arguments"]) == ("search_directory", {"query": "ACME"})
    assert json.loads(transcript["messages"][-1]["content"]) == GOOD_ANSWER
    assert [t["name"] for t in transcript["tools"]] == ["search_directory"]
    assert record.to_avro()["transcript_json"] == record.transcript


def test_a_transcript_over_its_bound_is_left_out_not_the_run_record() -> None:
    from processors.agent.record import MAX_TRANSCRIPT_BYTES, transcript_json
    from processors.llm.model import UserMessage

    huge = [UserMessage(content="x" * (MAX_TRANSCRIPT_BYTES + 1))]
    assert transcript_json(huge, ()) is None
    assert transcript_json([UserMessage(content="small")], ()) is not None
