"""``evidence_first``: the model must call a tool before it may answer."""

from __future__ import annotations

import asyncio

from agent_support import EVENT, GOOD_ANSWER, INSTRUCTIONS, TASK, VendorProfile, search_tool

from processors.agent import Agent
from processors.llm.fakes import ScriptedModel, call, reply, tool_calls
from processors.tools.base import CallContext


def _agent(model: ScriptedModel, evidence_first: bool) -> Agent[VendorProfile]:
    return Agent(
        daemon="vendor-enricher", model=model, instructions=INSTRUCTIONS, task=TASK,
        output_type=VendorProfile, tools=[search_tool()], evidence_first=evidence_first,
    )  # fmt: skip


CTX = CallContext(tenant_id="t-1", principal_id="u-7", event_id="e-1")


def test_first_turn_requires_a_tool_call_then_the_model_may_answer() -> None:
    steps = [tool_calls(call("search_directory", {"query": "ACME"}, id="c1")), reply(GOOD_ANSWER)]
    with ScriptedModel(steps) as model:
        asyncio.run(_agent(model, evidence_first=True).run(EVENT, CTX))
    assert [r.tool_choice for r in model.requests] == ["required", "auto"]


def test_without_evidence_first_the_model_chooses() -> None:
    with ScriptedModel([reply(GOOD_ANSWER)]) as model:
        asyncio.run(_agent(model, evidence_first=False).run(EVENT, CTX))
    assert [r.tool_choice for r in model.requests] == ["auto"]
