"""Planning: a typed plan is recorded, followed, deviated from once, re-planned once."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from agent_support import EVENT, GOOD_ANSWER, ctx, lookup_tool, make_agent, search_tool

from processors.agent import Plan, Planner
from processors.errors import PermanentError, PlanningFailed
from processors.llm.fakes import ScriptedModel, call, reply, tool_calls
from processors.llm.model import ModelRequest, ToolResultMessage, UserMessage
from processors.tools.base import CallContext, ToolError

SEARCH_THEN_LOOKUP = {
    "steps": [
        {"tool": "search_directory", "why": "find the vendor"},
        {"tool": "lookup_category", "why": "classify it"},
    ]
}


def plan_shown(request: ModelRequest) -> list[str]:
    return [
        m.content for m in request.messages if isinstance(m, UserMessage) and "planner" in m.content
    ]


def test_plan_is_requested_typed_recorded_and_shown_to_the_executor() -> None:
    planner = ScriptedModel([reply(SEARCH_THEN_LOOKUP)], name="openai:o4-mini")
    executor = ScriptedModel(
        [
            tool_calls(call("search_directory", {"query": "ACME"})),
            tool_calls(call("lookup_category", {"name": "Acme"})),
            reply(GOOD_ANSWER),
        ]
    )
    with planner, executor:
        agent = make_agent(executor, [search_tool(), lookup_tool()], planner=Planner(planner))
        record = asyncio.run(agent.run(EVENT, ctx())).record

    [request] = planner.requests
    assert request.response_schema == Plan.model_json_schema() and request.tool_choice == "none"
    assert [t.name for t in request.tools] == ["search_directory", "lookup_category"]
    assert "ACME CORP*4412" in request.messages[1].content  # the objective includes the task
    [shown] = plan_shown(executor.requests[0])
    assert shown.index("search_directory") < shown.index("lookup_category")
    [plan] = record.plans
    assert plan.attempt == 1 and plan.accepted and plan.reason is None
    assert [s.tool for s in plan.steps] == ["search_directory", "lookup_category"]
    assert [c.plan_step for c in record.tool_calls] == [0, 1]
    assert record.deviations == [] and record.totals.replans == 0
    assert [c.purpose for c in record.model_calls] == ["plan", "execute", "execute", "execute"]
    assert "planner" in record.prompts


def test_one_deviation_with_a_reason_is_allowed_a_second_is_refused() -> None:
    planner = ScriptedModel([reply({"steps": [{"tool": "search_directory", "why": "find"}]})])
    lookup = lookup_tool()
    executor = ScriptedModel(
        [
            tool_calls(call("lookup_category", {"name": "Acme"}), text="name is already clean"),
            tool_calls(call("lookup_category", {"name": "Acme again"}, id="second")),
            tool_calls(call("search_directory", {"query": "ACME"})),
            reply(GOOD_ANSWER),
        ]
    )
    with planner, executor:
        agent = make_agent(executor, [search_tool(), lookup], planner=Planner(planner))
        record = asyncio.run(agent.run(EVENT, ctx())).record

    assert [args for args, _ in lookup.calls] == [{"name": "Acme"}]  # the second never ran
    first, second = record.deviations
    assert (first.expected, first.actual, first.allowed) == (
        "search_directory",
        "lookup_category",
        True,
    )
    assert first.reason == "name is already clean"
    assert (second.allowed, second.expected) == (False, "search_directory")
    refusal = [m for m in executor.requests[2].messages if isinstance(m, ToolResultMessage)][-1]
    assert refusal.is_error and refusal.tool_call_id == "second"
    assert "call 'search_directory' next" in refusal.content
    assert [c.refused for c in record.tool_calls] == [None, "deviation", None]
    assert record.totals.deviations == 2 and record.totals.refused_calls == 1


def test_a_failed_planned_step_triggers_one_replan_that_is_recorded_and_shown() -> None:
    def down(arguments: dict[str, Any], ctx: CallContext) -> Any:
        raise ToolError("directory unavailable", status=503, retryable=True)

    planner = ScriptedModel(
        [
            reply(SEARCH_THEN_LOOKUP),
            reply({"steps": [{"tool": "lookup_category", "why": "skip the directory"}]}),
        ]
    )
    executor = ScriptedModel(
        [
            tool_calls(call("search_directory", {"query": "ACME"})),
            tool_calls(call("lookup_category", {"name": "Acme"})),
            reply(GOOD_ANSWER),
        ]
    )
    with planner, executor:
        agent = make_agent(executor, [search_tool(down), lookup_tool()], planner=Planner(planner))
        record = asyncio.run(agent.run(EVENT, ctx())).record

    replan_request = planner.requests[1].messages[1].content
    assert "step 1 (search_directory) failed with tool_error" in replan_request
    assert "Previous plan" in replan_request
    assert record.plans[0].accepted
    second = record.plans[1]
    assert second.attempt == 2 and second.accepted and "failed" in (second.reason or "")
    assert [s.tool for s in second.steps] == ["lookup_category"]
    new_plan = plan_shown(executor.requests[1])[-1]
    assert "skip the directory" in new_plan
    assert record.deviations == []  # following the new plan is not a deviation
    assert record.totals.replans == 1


def test_only_one_replan_a_second_failure_goes_to_the_model_and_a_retry_is_no_deviation() -> None:
    attempts: list[str] = []

    def fails_twice(arguments: dict[str, Any], ctx: CallContext) -> Any:
        attempts.append(arguments["query"])
        if len(attempts) <= 2:
            raise ToolError("timeout", status=504, retryable=True)
        return {"matches": []}

    one_step = reply({"steps": [{"tool": "search_directory", "why": "find"}]})
    planner = ScriptedModel([one_step, one_step])  # a third planner call would fail loudly
    executor = ScriptedModel(
        [tool_calls(call("search_directory", {"query": q})) for q in ("a", "b", "c")]
        + [reply(GOOD_ANSWER)]
    )
    with planner, executor:
        agent = make_agent(executor, [search_tool(fails_twice)], planner=Planner(planner))
        record = asyncio.run(agent.run(EVENT, ctx())).record
    assert attempts == ["a", "b", "c"]
    assert len(record.plans) == 2 and record.deviations == []
    assert [c.plan_step for c in record.tool_calls] == [0, 0, 0]


def test_a_plan_naming_an_unknown_tool_is_rejected_and_replanned() -> None:
    planner = ScriptedModel(
        [
            reply({"steps": [{"tool": "wire_money", "why": "pay them"}]}),
            reply({"steps": [{"tool": "search_directory", "why": "find"}]}),
        ]
    )
    executor = ScriptedModel(
        [tool_calls(call("search_directory", {"query": "ACME"})), reply(GOOD_ANSWER)]
    )
    with planner, executor:
        record = asyncio.run(
            make_agent(executor, planner=Planner(planner)).run(EVENT, ctx())
        ).record
    first, second = record.plans
    assert not first.accepted and "wire_money" in (first.rejection or "")
    assert second.accepted and "unusable" in (second.reason or "")
    assert "wire_money" in planner.requests[1].messages[1].content


def test_no_usable_plan_after_the_replan_is_a_permanent_error() -> None:
    planner = ScriptedModel([reply("I think you should search"), reply({"steps": "nope"})])
    with pytest.raises(PlanningFailed) as caught:
        asyncio.run(make_agent(ScriptedModel([]), planner=Planner(planner)).run(EVENT, ctx()))
    planner.assert_all_consumed()
    assert isinstance(caught.value, PermanentError)
    record: Any = caught.value.record
    assert [p.accepted for p in record.plans] == [False, False]


def test_planner_tokens_and_cost_count_against_the_run_budget() -> None:
    planner = ScriptedModel([reply(SEARCH_THEN_LOOKUP)], usd_per_1k_tokens=1000.0)
    from processors.agent import Limits
    from processors.errors import CostLimitExceeded

    with pytest.raises(CostLimitExceeded):
        asyncio.run(
            make_agent(
                ScriptedModel([]), planner=Planner(planner), limits=Limits(max_cost_usd=0.01)
            ).run(EVENT, ctx())
        )
