"""Spans follow the GenAI conventions: invoke_agent > plan/chat/execute_tool; no content."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agent_support import EVENT, GOOD_ANSWER, ctx, make_agent, search_tool

from processors.agent import Limits, Planner
from processors.errors import TurnLimitExceeded
from processors.llm.fakes import FunctionModel, ScriptedModel, call, reply, tool_calls
from processors.llm.model import ModelResponse, Usage
from processors.tools.base import ToolError


def test_run_emits_agent_chat_and_tool_spans_with_genai_attributes(spans: Any) -> None:
    tracer, exporter = spans
    model = ScriptedModel(
        [
            ModelResponse(
                message=tool_calls(call("search_directory", {"query": "ACME"}, id="c9")),
                usage=Usage(input_tokens=100, output_tokens=10),
                model="gpt-test-2025",
                finish_reason="tool_calls",
                cost_usd=0.25,
            ),
            reply(GOOD_ANSWER),
        ],
        name="openai:gpt-test",
    )
    with model:
        record = asyncio.run(make_agent(model, tracer=tracer).run(EVENT, ctx())).record

    finished = exporter.get_finished_spans()
    names = [s.name for s in finished]
    assert names == [
        "chat gpt-test",
        "execute_tool search_directory",
        "chat gpt-test",
        "invoke_agent vendor-enricher",
    ]
    root = finished[-1]
    assert all(
        s.parent is not None and s.parent.span_id == root.context.span_id for s in finished[:-1]
    )
    assert root.attributes["gen_ai.agent.name"] == "vendor-enricher"
    assert record.trace_id == f"{root.context.trace_id:032x}"
    chat = finished[0].attributes
    assert chat["gen_ai.provider.name"] == "openai"
    assert chat["gen_ai.request.model"] == "gpt-test"
    assert chat["gen_ai.response.model"] == "gpt-test-2025"
    assert chat["gen_ai.usage.input_tokens"] == 100 and chat["gen_ai.usage.output_tokens"] == 10
    assert chat["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert chat["daemons.usage.cost_usd"] == 0.25
    tool = finished[1].attributes
    assert tool["gen_ai.tool.name"] == "search_directory" and tool["gen_ai.tool.call.id"] == "c9"
    assert "error.type" not in tool


def test_spans_never_carry_prompt_or_completion_text(spans: Any) -> None:
    tracer, exporter = spans
    with ScriptedModel([reply(GOOD_ANSWER)]) as model:
        asyncio.run(make_agent(model, tracer=tracer).run({"vendor": "SECRET-VENDOR-TEXT"}, ctx()))
    for span in exporter.get_finished_spans():
        for value in span.attributes.values():
            assert "SECRET-VENDOR-TEXT" not in str(value) and "Acme Corp" not in str(value)


def test_failures_mark_tool_and_agent_spans_with_error_type(spans: Any) -> None:
    tracer, exporter = spans

    def fails(arguments: dict[str, Any], ctx: Any) -> Any:
        raise ToolError("nope", status=500)

    model = FunctionModel(lambda request: tool_calls(call("search_directory", {"query": "x"})))
    agent = make_agent(model, [search_tool(fails)], limits=Limits(max_turns=2), tracer=tracer)
    with pytest.raises(TurnLimitExceeded):
        asyncio.run(agent.run(EVENT, ctx()))
    by_name = {s.name: s for s in exporter.get_finished_spans()}
    assert by_name["execute_tool search_directory"].attributes["error.type"] == "tool_error"
    root = by_name["invoke_agent vendor-enricher"]
    assert root.attributes["error.type"] == "TurnLimitExceeded"
    assert not root.status.is_ok


def test_planning_emits_a_plan_span_with_its_chat_inside(spans: Any) -> None:
    tracer, exporter = spans
    planner = ScriptedModel(
        [reply({"steps": [{"tool": "search_directory", "why": "find it"}]})],
        name="anthropic:thinker",
    )
    executor = ScriptedModel(
        [tool_calls(call("search_directory", {"query": "ACME"})), reply(GOOD_ANSWER)]
    )
    with planner, executor:
        agent = make_agent(executor, planner=Planner(model=planner), tracer=tracer)
        asyncio.run(agent.run(EVENT, ctx()))
    finished = exporter.get_finished_spans()
    plan = next(s for s in finished if s.name == "plan")
    thinker = next(s for s in finished if s.name == "chat thinker")
    assert thinker.parent is not None and thinker.parent.span_id == plan.context.span_id
    assert thinker.attributes["gen_ai.provider.name"] == "anthropic"
