"""Each limit stops a runaway loop with its own typed, permanent error and a closed record."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from agent_support import EVENT, GOOD_ANSWER, ctx, make_agent, search_tool

from processors.agent import Limits
from processors.agent.loop import NO_MORE_TOOLS
from processors.errors import (
    BudgetExceeded,
    CostLimitExceeded,
    PermanentError,
    RunTimedOut,
    TokenLimitExceeded,
    TurnLimitExceeded,
)
from processors.llm.fakes import FunctionModel, call, reply, tool_calls
from processors.llm.model import AssistantMessage, ModelRequest, ModelResponse, Usage, UserMessage


def runaway(request: ModelRequest) -> AssistantMessage:
    """A model that never stops asking for the same tool."""
    return tool_calls(call("search_directory", {"query": "again"}))


def test_turn_limit_stops_a_model_that_never_answers() -> None:
    model = FunctionModel(runaway)
    with pytest.raises(TurnLimitExceeded) as caught:
        asyncio.run(make_agent(model, limits=Limits(max_turns=5)).run(EVENT, ctx()))
    assert len(model.requests) == 5
    error = caught.value
    assert isinstance(error, BudgetExceeded) and isinstance(error, PermanentError)
    record: Any = error.record
    assert record.totals.turns == 5 and record.totals.tool_calls == 5
    assert record.outcome == "failed" and record.error_type == "TurnLimitExceeded"


def test_token_limit_counts_input_and_output_tokens_across_turns() -> None:
    def heavy(request: ModelRequest) -> ModelResponse:
        return ModelResponse(
            message=runaway(request), usage=Usage(input_tokens=300, output_tokens=50), model="m"
        )

    model = FunctionModel(heavy)
    with pytest.raises(TokenLimitExceeded) as caught:
        asyncio.run(make_agent(model, limits=Limits(max_tokens=1000)).run(EVENT, ctx()))
    assert len(model.requests) == 3  # 350, 700, 1050 > 1000
    record: Any = caught.value.record
    assert record.totals.input_tokens == 900 and record.totals.output_tokens == 150
    assert len(record.model_calls) == 3  # the call that crossed the line is recorded too


def test_token_limit_with_estimated_usage_of_the_fakes() -> None:
    model = FunctionModel(runaway)
    with pytest.raises(TokenLimitExceeded):
        asyncio.run(
            make_agent(model, limits=Limits(max_tokens=2000, max_turns=100)).run(EVENT, ctx())
        )
    assert 1 < len(model.requests) < 100


def test_cost_limit_stops_the_run_when_spend_passes_it() -> None:
    model = FunctionModel(runaway, usd_per_1k_tokens=10.0)
    with pytest.raises(CostLimitExceeded) as caught:
        asyncio.run(
            make_agent(model, limits=Limits(max_cost_usd=5.0, max_turns=100)).run(EVENT, ctx())
        )
    record: Any = caught.value.record
    assert record.totals.cost_usd > 5.0
    assert record.totals.cost_usd - record.model_calls[-1].cost_usd <= 5.0


def test_wall_clock_timeout_stops_a_slow_loop() -> None:
    model = FunctionModel(runaway, latency_s=0.02)
    started = time.monotonic()
    with pytest.raises(RunTimedOut) as caught:
        asyncio.run(
            make_agent(model, limits=Limits(timeout_s=0.15, max_turns=1000)).run(EVENT, ctx())
        )
    assert time.monotonic() - started < 1.0
    assert 2 <= len(model.requests) < 20
    assert isinstance(caught.value, BudgetExceeded)
    assert caught.value.record is not None


def test_wall_clock_timeout_interrupts_a_hung_tool() -> None:
    async def hang(arguments: dict[str, Any], ctx: Any) -> Any:
        await asyncio.sleep(30)

    model = FunctionModel(runaway)
    with pytest.raises(RunTimedOut):
        asyncio.run(
            make_agent(model, [search_tool(hang)], limits=Limits(timeout_s=0.1)).run(EVENT, ctx())
        )


def test_a_tools_own_timeout_error_is_not_mistaken_for_the_run_deadline() -> None:
    def times_out(arguments: dict[str, Any], ctx: Any) -> Any:
        raise TimeoutError("socket read timed out")

    model = FunctionModel(runaway)
    with pytest.raises(TimeoutError) as caught:
        asyncio.run(make_agent(model, [search_tool(times_out)]).run(EVENT, ctx()))
    assert not isinstance(caught.value, RunTimedOut)


def test_limits_reject_nonsense_values() -> None:
    with pytest.raises(ValueError):
        Limits(max_turns=0)
    with pytest.raises(ValueError):
        Limits(timeout_s=-1)


def test_after_max_tool_turns_the_model_is_asked_for_its_answer() -> None:
    answer = dict(GOOD_ANSWER)
    choices: list[str] = []

    def stubborn(request: ModelRequest) -> AssistantMessage:
        """Asks for the tool whenever it may; answers when told to."""
        choices.append(request.tool_choice)
        return reply(answer) if request.tool_choice == "none" else runaway(request)

    model = FunctionModel(stubborn)
    limits = Limits(max_turns=5, max_tool_turns=2)
    result = asyncio.run(make_agent(model, limits=limits).run(EVENT, ctx()))
    assert result.output.name == "Acme Corp"
    assert choices == ["auto", "auto", "none"]
    assert result.record.totals.tool_calls == 2
    # the tools stay offered on the closing turn (a stable prompt prefix)...
    assert all(r.tools for r in model.requests)


def test_with_no_tool_turns_at_all_no_tools_are_offered() -> None:
    model = FunctionModel(lambda request: reply(dict(GOOD_ANSWER)))
    limits = Limits(max_turns=5, max_tool_turns=0)
    asyncio.run(make_agent(model, limits=limits).run(EVENT, ctx()))
    # ...but a run that may never call one is not shown their schemas
    assert [(r.tools, r.tool_choice) for r in model.requests] == [((), "none")]


def test_tool_calls_sent_after_the_limit_are_not_run_and_not_kept() -> None:
    def deaf(request: ModelRequest) -> AssistantMessage:
        """Ignores tool_choice="none" once, then answers."""
        if (
            request.tool_choice == "none"
            and sum(1 for m in request.messages if isinstance(m, UserMessage)) < 2
        ):
            return runaway(request)
        if request.tool_choice == "none":
            return reply(dict(GOOD_ANSWER))
        return runaway(request)

    model = FunctionModel(deaf)
    result = asyncio.run(
        make_agent(model, limits=Limits(max_turns=5, max_tool_turns=0)).run(EVENT, ctx())
    )
    record = result.record
    assert record.totals.tool_calls == 0  # the ignored "none" did not run the search
    assert [c.error for c in record.corrections] == [NO_MORE_TOOLS]
    last = model.requests[-1].messages
    assert not any(isinstance(m, AssistantMessage) and m.tool_calls for m in last)
