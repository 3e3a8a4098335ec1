"""The Anthropic Messages provider: body translation, the forced answer tool, parsing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from processors.errors import ConfigError, ProviderError
from processors.llm.config import LLMSettings
from processors.llm.model import (
    AssistantMessage,
    ModelRequest,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    UserMessage,
)
from processors.llm.registry import load_model
from tests.llm.conftest import mock_client

KEY = "sk-ant-SECRET-42"
TOOL = ToolSpec(name="lookup", description="Look up", parameters={"type": "object"})
SCHEMA = {"type": "object", "properties": {"category": {"type": "string"}}}


def run(request: ModelRequest, answer: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    seen: list[dict[str, Any]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        assert req.url.path == "/v1/messages"
        assert req.headers["x-api-key"] == KEY
        assert req.headers["anthropic-version"] == "2023-06-01"
        seen.append(json.loads(req.content))
        return httpx.Response(200, json=answer)

    settings = LLMSettings.from_env({"ANTHROPIC_API_KEY": KEY})
    model = load_model("anthropic:claude-sonnet-4-5", settings, client=mock_client(handler))
    response = asyncio.run(model.complete(request))
    return seen[0], response


def text_answer(text: str) -> dict[str, Any]:
    return {
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "usage": {"input_tokens": 1000, "output_tokens": 100, "cache_read_input_tokens": 10},
    }


def test_system_is_lifted_and_tool_results_travel_in_one_user_turn() -> None:
    calls = (
        ToolCall(id="t1", name="lookup", arguments={"q": 1}),
        ToolCall(id="t2", name="lookup", arguments={"q": 2}),
    )
    request = ModelRequest(
        messages=(
            SystemMessage(content="rules"),
            UserMessage(content="go"),
            AssistantMessage(content="thinking", tool_calls=calls),
            ToolResultMessage(tool_call_id="t1", name="lookup", content="a"),
            ToolResultMessage(tool_call_id="t2", name="lookup", content="b", is_error=True),
        ),
        tools=(TOOL,),
        tool_choice="required",
    )
    body, response = run(request, text_answer("done"))
    assert body["system"] == "rules"
    assert [t["role"] for t in body["messages"]] == ["user", "assistant", "user"]
    assert body["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "t1",
        "name": "lookup",
        "input": {"q": 1},
    }
    results = body["messages"][2]["content"]
    assert [r["tool_use_id"] for r in results] == ["t1", "t2"]
    assert results[1]["is_error"] is True
    assert body["tools"] == [
        {"name": "lookup", "description": "Look up", "input_schema": {"type": "object"}}
    ]
    assert body["tool_choice"] == {"type": "any"}
    assert body["max_tokens"] == 4096
    assert response.message.content == "done"
    assert response.usage.input_tokens == 1010 and response.usage.output_tokens == 100
    assert response.usage.cached_input_tokens == 10
    # the 10 cache reads at $0.30 per 1M, the rest of the prompt at $3
    assert response.cost_usd == pytest.approx((1000 * 3 + 10 * 0.3 + 100 * 15) / 1e6)


def test_schema_answer_alone_forces_the_answer_tool_and_comes_back_as_content() -> None:
    answer = {
        "content": [
            {"type": "tool_use", "id": "x", "name": "response", "input": {"category": "travel"}}
        ],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 5},
    }
    request = ModelRequest(messages=(UserMessage(content="classify"),), response_schema=SCHEMA)
    body, response = run(request, answer)
    assert body["tools"][0]["name"] == "response" and body["tools"][0]["input_schema"] == SCHEMA
    assert body["tool_choice"] == {"type": "tool", "name": "response"}
    assert json.loads(response.message.content) == {"category": "travel"}
    assert response.message.tool_calls == () and response.finish_reason == "stop"


def test_schema_answer_beside_real_tools_lets_the_model_pick_any_tool() -> None:
    answer = {
        "content": [{"type": "tool_use", "id": "u1", "name": "lookup", "input": {"q": "x"}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 5},
    }
    request = ModelRequest(
        messages=(UserMessage(content="classify"),), tools=(TOOL,), response_schema=SCHEMA
    )
    body, response = run(request, answer)
    assert [t["name"] for t in body["tools"]] == ["lookup", "response"]
    assert body["tool_choice"] == {"type": "any"}
    assert response.message.tool_calls == (ToolCall(id="u1", name="lookup", arguments={"q": "x"}),)
    assert response.finish_reason == "tool_calls"


def test_named_tool_choice_and_a_colliding_answer_name() -> None:
    body, _ = run(
        ModelRequest(messages=(UserMessage(content="x"),), tools=(TOOL,), tool_choice="lookup"),
        text_answer("ok"),
    )
    assert body["tool_choice"] == {"type": "tool", "name": "lookup"}
    with pytest.raises(ConfigError, match="collides"):
        run(
            ModelRequest(
                messages=(UserMessage(content="x"),),
                tools=(TOOL,),
                response_schema=SCHEMA,
                response_name="lookup",
            ),
            text_answer("ok"),
        )


def test_anthropic_errors_map_like_every_provider() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}},
        )

    settings = LLMSettings.from_env({"ANTHROPIC_API_KEY": KEY})
    model = load_model("anthropic:claude-sonnet-4-5", settings, client=mock_client(handler))
    with pytest.raises(ProviderError, match="anthropic returned HTTP 400: bad"):
        asyncio.run(model.complete(ModelRequest(messages=(UserMessage(content="x"),))))
