"""A model's unreadable tool-call arguments go back to it as a correction in the same run:
the tool is not called, the record says why, and the next turn may fix it."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from processors.agent import Agent, Prompt
from processors.agent.fakes import FunctionTool
from processors.llm.fakes import ScriptedModel, reply, tool_calls
from processors.llm.model import ModelRequest, ToolCall, ToolResultMessage
from processors.tools.base import CallContext


class Answer(BaseModel):
    total: str


def test_broken_arguments_are_told_to_the_model_and_it_corrects_itself() -> None:
    lookup = FunctionTool(
        "lookup",
        lambda args, ctx: {"total": "12.00"},
        input_schema={"type": "object", "properties": {"id": {"type": "string"}}},
    )
    broken = ToolCall(
        id="c1", name="lookup", arguments={}, invalid_arguments="arguments are not JSON: {id: 7"
    )
    seen: list[ModelRequest] = []

    def fixed(request: ModelRequest) -> Any:
        seen.append(request)
        return tool_calls(ToolCall(id="c2", name="lookup", arguments={"id": "7"}))

    model = ScriptedModel([tool_calls(broken), fixed, reply({"total": "12.00"})])
    agent = Agent(
        daemon="d",
        model=model,
        instructions=Prompt.from_text("Sum."),
        task=Prompt.from_text("Invoice {id}"),
        output_type=Answer,
        tools=[lookup],
    )
    ctx = CallContext(tenant_id="t", principal_id="u", event_id="e")
    result = asyncio.run(agent.run({"id": "7"}, ctx))
    assert result.output.total == "12.00"
    assert [args for args, _ in lookup.calls] == [{"id": "7"}]  # the broken call never ran
    (told,) = [m for m in seen[0].messages if isinstance(m, ToolResultMessage)]
    assert told.is_error and "invalid_arguments" in told.content and "not JSON" in told.content
    first = result.record.tool_calls[0]
    assert first.error_type == "invalid_arguments" and "not JSON" in (first.error or "")
    model.assert_all_consumed()
