"""An answer that is a query: the schema it is given names the tenant's choices (from the
context's results), code's reading of the event follows the task, and the reads code makes
from a valid answer run through the run's own tools — or the answer goes back corrected."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pydantic import BaseModel

from processors.agent import Agent, Correct, Limits, Prompt
from processors.agent.fakes import FunctionTool
from processors.errors import InvalidAgentOutput
from processors.llm.fakes import ScriptedModel, reply
from processors.llm.model import ToolCall
from processors.tools.base import CallContext
from processors.tools.evidence import ToolEvidence, rows

ACCOUNTS = {"t-1": ["Rent", "Meals"], "t-2": ["Fuel"]}


class Ask(BaseModel):
    account: str


def schema(base: dict[str, Any], evidence: Sequence[ToolEvidence]) -> dict[str, Any]:
    names = [a["name"] for a in rows(evidence, "listAccounts", "accounts")]
    return {**base, "properties": {"account": {"enum": names}}}


def follow_up(
    answer: Ask, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]
) -> list[ToolCall] | Correct:
    names = [a["name"] for a in rows(evidence, "listAccounts", "accounts")]
    if answer.account not in names:
        return Correct(f"account must be one of {names}")
    return [ToolCall(id="q", name="sum", arguments={"account": answer.account})]


def run(model: ScriptedModel, tenant: str = "t-1") -> tuple[Any, FunctionTool]:
    accounts = FunctionTool(
        "listAccounts",
        lambda args, ctx: {"accounts": [{"name": n} for n in ACCOUNTS[ctx.tenant_id]]},
    )
    summed = FunctionTool(
        "sum", lambda args, ctx: {"total": "12.00", "tenant": ctx.tenant_id},
        input_schema={"type": "object", "properties": {"account": {"type": "string"}}},
    )  # fmt: skip
    agent = Agent(
        daemon="d", model=model,
        instructions=Prompt.from_text("Fill the query.", name="instructions"),
        task=Prompt.from_text("Question: {question}", name="task"),
        output_type=Ask, tools=[accounts, summed],
        limits=Limits(max_tool_turns=0, max_corrections=1),
        context=(ToolCall(id="c", name="listAccounts", arguments={}),),
        answer_schema=schema, follow_up=follow_up,
        task_notes=lambda event, found: f"Words: {len(event['question'].split())}, "
        f"reads: {len(found)}",
    )  # fmt: skip
    ctx = CallContext(tenant_id=tenant, principal_id="u", event_id="e")
    with model:
        result = asyncio.run(agent.run({"question": "rent in May?"}, ctx))
    return result, summed


def test_the_schema_names_this_tenants_choices_and_code_reads_from_the_answer() -> None:
    model = ScriptedModel([reply({"account": "Rent"})])
    result, summed = run(model)
    (request,) = model.requests
    enum = {"account": {"enum": ["Rent", "Meals"]}}
    assert request.response_schema == {**Ask.model_json_schema(), "properties": enum}
    # code's note follows the fenced question, outside the fence
    task = str(request.messages[-1].content)
    assert task.endswith("rent in May?\n</untrusted>\n\nWords: 3, reads: 1")
    assert [(args, ctx.tenant_id) for args, ctx in summed.calls] == [({"account": "Rent"}, "t-1")]
    assert [e.tool for e in result.evidence] == ["listAccounts", "sum"]
    assert result.evidence[-1].result == {"total": "12.00", "tenant": "t-1"}
    assert [c.name for c in result.record.tool_calls] == ["listAccounts", "sum"]

    other = ScriptedModel([reply({"account": "Fuel"})])
    run(other, tenant="t-2")
    assert other.requests[0].response_schema["properties"]["account"]["enum"] == ["Fuel"]


def test_an_answer_code_rejects_goes_back_as_a_correction_and_reads_nothing() -> None:
    model = ScriptedModel([reply({"account": "Fuel"}), reply({"account": "Meals"})])
    result, summed = run(model)
    (correction,) = result.record.corrections
    assert correction.error == "account must be one of ['Rent', 'Meals']"
    assert [args for args, _ in summed.calls] == [{"account": "Meals"}]
    assert result.output.account == "Meals"


def test_corrections_are_bounded_for_rejected_answers_too() -> None:
    model = ScriptedModel([reply({"account": "Fuel"})] * 2)
    with pytest.raises(InvalidAgentOutput, match="account must be one of"):
        run(model)
