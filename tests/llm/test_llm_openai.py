"""The OpenAI-compatible provider against httpx.MockTransport: request bodies, answer parsing,
usage and cost, retries and the error mapping."""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from processors.errors import PermanentError, ProviderError, RateLimited, TransientError
from processors.llm._http import ProviderHTTP, parse_retry_after
from processors.llm.config import LLMSettings, ModelRetries, PriceTable
from processors.llm.model import (
    AssistantMessage,
    ModelRequest,
    ModelSettings,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    UserMessage,
)
from processors.llm.openai import OpenAICompatibleModel
from processors.llm.registry import load_model
from tests.llm.conftest import RecordingSleep, mock_client

KEY = "sk-test-SECRET-0123456789"
INVOICE_TOOL = ToolSpec(
    name="get_invoice",
    description="Fetch an invoice",
    parameters={"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
)


def completion(message: dict[str, Any], finish: str = "stop", usage: tuple[int, int] = (10, 5)):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]},
    }


def make_model(
    handler: Any,
    *,
    name: str = "openai:gpt-4.1-mini",
    sleep: RecordingSleep | None = None,
    attempts: int = 3,
) -> OpenAICompatibleModel:
    http = ProviderHTTP(
        provider=name.split(":")[0],
        base_url="https://api.example.test/v1",
        headers={"Authorization": f"Bearer {KEY}"},
        secrets=(SecretStr(KEY),),
        retry=ModelRetries(max_attempts=attempts, base_delay=0.5, max_delay=30),
        client=mock_client(handler),
        sleep=sleep or RecordingSleep(),
        rng=random.Random(7),
    )
    return OpenAICompatibleModel(
        name=name, served_model=name.split(":", 1)[1], http=http, prices=PriceTable()
    )


def test_request_body_carries_messages_tools_choice_and_schema() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v1/chat/completions"
        assert request.headers["authorization"] == f"Bearer {KEY}"
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=completion({"role": "assistant", "content": "{}"}))

    model = make_model(handler)
    call = ToolCall(id="c1", name="get_invoice", arguments={"id": "7"})
    request = ModelRequest(
        messages=(
            SystemMessage(content="be terse"),
            UserMessage(content="fetch 7"),
            AssistantMessage(tool_calls=(call,)),
            ToolResultMessage(tool_call_id="c1", name="get_invoice", content="boom", is_error=True),
        ),
        tools=(INVOICE_TOOL,),
        tool_choice="get_invoice",
        response_schema={"type": "object"},
        response_name="answer",
        settings=ModelSettings(temperature=0.0, max_tokens=99, seed=3),
    )
    asyncio.run(model.complete(request))
    body = seen[0]
    assert body["model"] == "gpt-4.1-mini"
    assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "tool"]
    assert body["messages"][2]["tool_calls"][0]["function"] == {
        "name": "get_invoice",
        "arguments": '{"id": "7"}',
    }
    assert body["messages"][3]["tool_call_id"] == "c1"
    assert body["messages"][3]["content"].startswith("[tool error]")
    assert body["tools"][0]["function"]["parameters"] == INVOICE_TOOL.parameters
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_invoice"}}
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}},
    }
    assert body["temperature"] == 0.0 and body["seed"] == 3
    assert body["max_completion_tokens"] == 99 and "max_tokens" not in body


def test_gateways_get_max_tokens_and_no_tool_fields_without_tools() -> None:
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return httpx.Response(200, json=completion({"role": "assistant", "content": "hi"}))

    model = make_model(handler, name="openai-compatible:qwen")
    request = ModelRequest(
        messages=(UserMessage(content="hi"),), settings=ModelSettings(max_tokens=12)
    )
    asyncio.run(model.complete(request))
    assert seen[0]["max_tokens"] == 12
    assert "tools" not in seen[0] and "tool_choice" not in seen[0]
    assert "response_format" not in seen[0]


def test_tool_calls_usage_and_cost_are_parsed() -> None:
    answer = {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_9",
                "type": "function",
                "function": {"name": "get_invoice", "arguments": '{"id": "INV-1"}'},
            }
        ],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=completion(answer, "tool_calls", (1_000_000, 500_000)))

    response = asyncio.run(
        make_model(handler).complete(
            ModelRequest(messages=(UserMessage(content="x"),), tools=(INVOICE_TOOL,))
        )
    )
    assert response.message.tool_calls == (
        ToolCall(id="call_9", name="get_invoice", arguments={"id": "INV-1"}),
    )
    assert response.finish_reason == "tool_calls"
    assert response.usage.input_tokens == 1_000_000 and response.usage.output_tokens == 500_000
    # gpt-4.1-mini: $0.40 per 1M input + $1.60 per 1M output
    assert response.cost_usd == pytest.approx(0.4 + 0.8)
    assert response.model == "openai:gpt-4.1-mini"


def test_local_models_cost_nothing_and_unknown_models_cost_zero() -> None:
    from processors.llm.model import Usage

    table = PriceTable()
    usage = Usage(input_tokens=10_000, output_tokens=10_000)
    assert table.cost("local:qwen2.5-coder-1.5b", usage) == 0.0
    assert table.cost("openai-compatible:x", usage) == 0.0
    assert table.cost("anthropic:claude-sonnet-4-5", usage) == pytest.approx(0.03 + 0.15)


@pytest.mark.parametrize(
    ("arguments", "why"), [("{oops", "not JSON"), ("[1]", "not a JSON object")]
)
def test_broken_tool_arguments_come_back_as_a_call_the_model_is_told_about(
    arguments: str, why: str
) -> None:
    answer = {
        "role": "assistant",
        "tool_calls": [{"id": "c", "function": {"name": "get_invoice", "arguments": arguments}}],
    }
    model = make_model(lambda r: httpx.Response(200, json=completion(answer, "tool_calls")))
    response = asyncio.run(model.complete(ModelRequest(messages=(UserMessage(content="x"),))))
    (call,) = response.message.tool_calls  # no exception: no re-run of the whole event
    assert (call.id, call.name, call.arguments) == ("c", "get_invoice", {})
    assert call.invalid_arguments is not None and why in call.invalid_arguments
    assert arguments in call.invalid_arguments


def test_429_is_retried_after_the_peers_retry_after() -> None:
    statuses = iter([429, 200])
    sleep = RecordingSleep()

    def handler(request: httpx.Request) -> httpx.Response:
        if next(statuses) == 429:
            return httpx.Response(
                429, headers={"Retry-After": "7"}, json={"error": {"message": "slow down"}}
            )
        return httpx.Response(200, json=completion({"role": "assistant", "content": "ok"}))

    response = asyncio.run(
        make_model(handler, sleep=sleep).complete(
            ModelRequest(messages=(UserMessage(content="x"),))
        )
    )
    assert response.message.content == "ok"
    assert sleep.delays == [7.0]


def test_5xx_is_retried_with_bounded_jittered_backoff_then_raised() -> None:
    calls = []
    sleep = RecordingSleep()

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, json={"error": {"message": "overloaded"}})

    with pytest.raises(TransientError, match="HTTP 503: overloaded"):
        asyncio.run(
            make_model(handler, sleep=sleep, attempts=4).complete(
                ModelRequest(messages=(UserMessage(content="x"),))
            )
        )
    assert len(calls) == 4
    assert len(sleep.delays) == 3
    for attempt, delay in enumerate(sleep.delays):
        assert 0.0 <= delay <= 0.5 * 2**attempt


def test_429_exhausting_attempts_raises_rate_limited_with_retry_after() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"retry-after-ms": "1500"}, json={"error": "busy"})

    with pytest.raises(RateLimited) as info:
        asyncio.run(
            make_model(handler, attempts=2).complete(
                ModelRequest(messages=(UserMessage(content="x"),))
            )
        )
    assert info.value.retry_after == 1.5


def test_a_retry_after_longer_than_max_delay_goes_up_at_once() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"Retry-After": "3600"})

    with pytest.raises(RateLimited) as info:
        asyncio.run(
            make_model(handler).complete(ModelRequest(messages=(UserMessage(content="x"),)))
        )
    assert len(calls) == 1 and info.value.retry_after == 3600


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_permanent_and_not_retried(status: int) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, json={"error": {"message": "nope"}})

    with pytest.raises(ProviderError) as info:
        asyncio.run(
            make_model(handler).complete(ModelRequest(messages=(UserMessage(content="x"),)))
        )
    assert isinstance(info.value, PermanentError)
    assert info.value.status == status and info.value.provider == "openai"
    assert len(calls) == 1


@pytest.mark.parametrize(
    "exc", [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.ConnectTimeout("x")]
)
def test_timeouts_and_connection_errors_are_transient(exc: httpx.HTTPError) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise exc

    with pytest.raises(TransientError):
        asyncio.run(
            make_model(handler, attempts=2).complete(
                ModelRequest(messages=(UserMessage(content="x"),))
            )
        )
    assert len(calls) == 2


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after(httpx.Headers({"Retry-After": "12"})) == 12.0
    date = httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"})
    assert parse_retry_after(date, now=1445412480.0) == pytest.approx(10.0)
    assert parse_retry_after(httpx.Headers({"Retry-After": "soon"})) is None
    assert parse_retry_after(httpx.Headers()) is None


def test_the_api_key_never_leaks_into_errors_reprs_or_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)

    def handler(request: httpx.Request) -> httpx.Response:
        # A peer that echoes the key back in its error message.
        return httpx.Response(
            401, json={"error": {"message": f"Incorrect API key provided: {KEY}"}}
        )

    settings = LLMSettings.from_env({"OPENAI_API_KEY": KEY})
    model = load_model("openai:gpt-4.1-mini", settings, client=mock_client(handler))
    with pytest.raises(ProviderError) as info:
        asyncio.run(model.complete(ModelRequest(messages=(UserMessage(content="x"),))))
    rendered = [str(info.value), repr(info.value), repr(model), repr(settings), str(settings)]
    rendered.append(settings.model_dump_json())
    rendered.append(caplog.text)
    for text in rendered:
        assert KEY not in text
    assert "**********" in str(info.value)

    def failing(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.headers['authorization']}")

    model = load_model("openai:gpt-4.1-mini", settings, client=mock_client(failing))
    with pytest.raises(TransientError) as transient:
        asyncio.run(model.complete(ModelRequest(messages=(UserMessage(content="x"),))))
    assert KEY not in str(transient.value) and transient.value.__cause__ is None
    assert KEY not in caplog.text
