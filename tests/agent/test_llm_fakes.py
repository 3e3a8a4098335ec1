"""The shipped fake models fail loudly and report usage."""

from __future__ import annotations

import asyncio

import pytest

from processors.llm.fakes import (
    FunctionModel,
    ScriptedModel,
    UnconsumedSteps,
    UnexpectedModelCall,
    call,
    reply,
    tool_calls,
)
from processors.llm.model import Model, ModelRequest, ModelResponse, UserMessage

REQUEST = ModelRequest(messages=(UserMessage(content="hello there, model"),))


def test_scripted_model_answers_in_order_and_records_requests() -> None:
    model = ScriptedModel([tool_calls(call("t", {"a": 1}, id="x")), "done"])
    assert isinstance(model, Model)
    first = asyncio.run(model.complete(REQUEST))
    second = asyncio.run(model.complete(REQUEST))
    assert first.message.tool_calls[0].id == "x" and first.finish_reason == "tool_calls"
    assert second.message.content == "done" and second.finish_reason == "stop"
    assert model.requests == [REQUEST, REQUEST]
    model.assert_all_consumed()


def test_scripted_model_fails_loudly_on_an_extra_call() -> None:
    model = ScriptedModel(["only"])
    asyncio.run(model.complete(REQUEST))
    with pytest.raises(UnexpectedModelCall, match="call #2"):
        asyncio.run(model.complete(REQUEST))
    assert issubclass(UnexpectedModelCall, AssertionError)


def test_scripted_model_reports_unconsumed_steps_and_its_context_manager_checks() -> None:
    model = ScriptedModel(["one", "two"])
    asyncio.run(model.complete(REQUEST))
    with pytest.raises(UnconsumedSteps, match="1 of 2"):
        model.assert_all_consumed()
    with pytest.raises(UnconsumedSteps), ScriptedModel(["never used"]):
        pass


def test_scripted_model_context_manager_does_not_mask_the_real_error() -> None:
    with pytest.raises(KeyError), ScriptedModel(["never used"]):
        raise KeyError("the real failure")


def test_scripted_steps_may_be_functions_of_the_request() -> None:
    def check(request: ModelRequest) -> str:
        assert request.messages[-1].content == "hello there, model"  # type: ignore[union-attr]
        return "checked"

    model = ScriptedModel([check])
    assert asyncio.run(model.complete(REQUEST)).message.content == "checked"


def test_fakes_report_estimated_usage_and_cost() -> None:
    model = ScriptedModel([reply({"a": 1})], usd_per_1k_tokens=2.0)
    response = asyncio.run(model.complete(REQUEST))
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    tokens = response.usage.input_tokens + response.usage.output_tokens
    assert response.cost_usd == pytest.approx(tokens * 2.0 / 1000)


def test_explicit_model_responses_pass_through_unchanged() -> None:
    canned = ModelResponse(message=reply("x"), model="m", cost_usd=0.5)
    assert asyncio.run(ScriptedModel([canned]).complete(REQUEST)) == canned


def test_function_model_lets_the_test_play_the_model_sync_or_async() -> None:
    async def respond(request: ModelRequest) -> str:
        return f"{len(request.messages)} messages"

    model = FunctionModel(respond, name="local:tiny")
    assert asyncio.run(model.complete(REQUEST)).message.content == "1 messages"
    assert model.provider == "local" and model.name == "local:tiny"
    sync = FunctionModel(lambda request: "sync")
    assert asyncio.run(sync.complete(REQUEST)).message.content == "sync"


def test_function_model_guards_against_endless_calls() -> None:
    model = FunctionModel(lambda request: "again", max_calls=3)
    for _ in range(3):
        asyncio.run(model.complete(REQUEST))
    with pytest.raises(UnexpectedModelCall):
        asyncio.run(model.complete(REQUEST))
