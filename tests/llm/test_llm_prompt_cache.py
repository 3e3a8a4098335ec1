"""Prompt caching at the providers, over real HTTP on 127.0.0.1: OpenAI's cached prompt tokens
and Anthropic's cache reads and writes are parsed from recorded answers and priced at their
own rates; Anthropic requests carry ``cache_control`` breakpoints exactly where the static
prefix (``ModelRequest.cache_prefix``) ends, and none without one."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from processors.llm.anthropic import build_body
from processors.llm.anthropic import parse_usage as anthropic_usage
from processors.llm.config import DEFAULT_PRICES, LLMSettings, Price, PriceTable
from processors.llm.model import (
    AssistantMessage,
    Message,
    ModelRequest,
    ModelResponse,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    Usage,
    UserMessage,
)
from processors.llm.openai import parse_usage as openai_usage
from processors.llm.registry import load_model

EPHEMERAL = {"type": "ephemeral"}
ACCOUNTS = ToolSpec(name="list_accounts", description="Chart of accounts", parameters={})
VENDORS = ToolSpec(name="list_vendors", description="Vendor list", parameters={})
SCHEMA = {"type": "object", "properties": {"account": {"type": "string"}}}

# Recorded answers, as the APIs return them (ids shortened).
OPENAI_CACHED = {
    "id": "chatcmpl-BxCache1",
    "object": "chat.completion",
    "created": 1754000000,
    "model": "gpt-4.1-mini-2025-04-14",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": '{"account": "6100"}', "refusal": None,
                        "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 2006,
        "completion_tokens": 300,
        "total_tokens": 2306,
        "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                      "accepted_prediction_tokens": 0,
                                      "rejected_prediction_tokens": 0},
    },
    "service_tier": "default",
    "system_fingerprint": "fp_6f2eabb9a5",
}  # fmt: skip


def anthropic_answer(*, read: int, written: int, fresh: int = 57) -> dict[str, Any]:
    return {
        "id": "msg_01Cache",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [{"type": "text", "text": '{"account": "6100"}'}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": fresh,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": written,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": 120,
            "service_tier": "standard",
        },
    }


class Loopback(ThreadingHTTPServer):
    """Answers every POST from a script of JSON bodies and keeps what was sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Loopback

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, body))
        data = json.dumps(self.server.script.pop(0)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    server = Loopback()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    assert server.script == [], "scripted answers were left unused"


def complete(name: str, settings: LLMSettings, request: ModelRequest) -> ModelResponse:
    model = load_model(name, settings)

    async def go() -> ModelResponse:
        try:
            return await model.complete(request)
        finally:
            await model.aclose()  # type: ignore[attr-defined]

    return asyncio.run(go())


def layout(*event: Message) -> tuple[Message, ...]:
    """The loop's cache layout: instructions, the tenant's context (one user turn noting it,
    the daemon's reads, their results), then the event; ``cache_prefix`` is 5."""
    reads = (
        ToolCall(id="ctx1", name="list_accounts", arguments={}),
        ToolCall(id="ctx2", name="list_vendors", arguments={}),
    )
    return (
        SystemMessage(content="You code expenses to the tenant's chart of accounts."),
        UserMessage(content="The daemon has read this tenant's records for you."),
        AssistantMessage(tool_calls=reads),
        ToolResultMessage(tool_call_id="ctx1", name="list_accounts", content='["6100 Software"]'),
        ToolResultMessage(tool_call_id="ctx2", name="list_vendors", content='["Acme Corp"]'),
        *event,
    )


def breakpoints(body: dict[str, Any]) -> list[str]:
    """Where the body's cache_control markers are, as readable paths."""
    found = [f"tools[{i}]" for i, t in enumerate(body.get("tools", [])) if "cache_control" in t]
    system = body.get("system")
    if isinstance(system, list):
        found += [f"system[{i}]" for i, b in enumerate(system) if "cache_control" in b]
    for t, turn in enumerate(body["messages"]):
        found += [f"messages[{t}][{b}]" for b, block in enumerate(turn["content"])
                  if "cache_control" in block]  # fmt: skip
    assert json.dumps(body).count("cache_control") == len(found)  # nowhere else
    return found


# ---- OpenAI ---------------------------------------------------------------------------------


def test_openai_cached_prompt_tokens_are_parsed_and_priced_at_the_cached_rate(
    loopback: Loopback,
) -> None:
    loopback.script.append(OPENAI_CACHED)
    settings = LLMSettings.from_env(
        {"OPENAI_API_KEY": "sk-test-cache-0123456789", "OPENAI_BASE_URL": f"{loopback.url}/v1"}
    )
    request = ModelRequest(messages=layout(UserMessage(content="ACME*4412")), cache_prefix=5)
    response = complete("openai:gpt-4.1-mini", settings, request)
    assert response.usage == Usage(
        input_tokens=2006, output_tokens=300, cached_input_tokens=1920, cache_write_tokens=0
    )
    # gpt-4.1-mini: $0.40 per 1M uncached input, $0.10 cached, $1.60 output
    assert response.cost_usd == pytest.approx((86 * 0.40 + 1920 * 0.10 + 300 * 1.60) / 1e6)
    [(path, body)] = loopback.requests
    assert path == "/v1/chat/completions"
    assert "cache_control" not in json.dumps(body)  # OpenAI caches prefixes by itself


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": 40, "completion_tokens": 2},
        {"prompt_tokens": 40, "completion_tokens": 2, "prompt_tokens_details": None},
        {"prompt_tokens": 40, "completion_tokens": 2, "prompt_tokens_details": {}},
        {"prompt_tokens": 40, "completion_tokens": 2,
         "prompt_tokens_details": {"cached_tokens": None}},
    ],
    ids=["no-details", "null-details", "empty-details", "null-cached"],
)  # fmt: skip
def test_openai_usage_without_cache_figures_counts_no_cached_tokens(usage: Any) -> None:
    assert openai_usage(usage) == Usage(input_tokens=40, output_tokens=2)


def test_openai_usage_that_is_missing_or_null_counts_nothing() -> None:
    assert openai_usage(None) == Usage() and openai_usage({}) == Usage()
    assert openai_usage({"prompt_tokens": None, "completion_tokens": "x"}) == Usage()


# ---- Anthropic: where the breakpoints go ----------------------------------------------------


def test_anthropic_breakpoints_mark_tools_system_and_the_last_block_of_the_prefix() -> None:
    event = UserMessage(content="Code this expense: ACME*4412")
    request = ModelRequest(messages=layout(event), tools=(ACCOUNTS, VENDORS), cache_prefix=5)
    body = build_body(request, "claude-sonnet-4-5")
    # message 4 (the last context result) shares a user turn with the event: the breakpoint
    # goes on its own block, so the event stays outside the cached prefix
    assert breakpoints(body) == ["tools[1]", "system[0]", "messages[2][1]"]
    assert body["system"] == [
        {"type": "text", "text": "You code expenses to the tenant's chart of accounts.",
         "cache_control": EPHEMERAL},
    ]  # fmt: skip
    user_turn = body["messages"][2]["content"]
    assert [b["type"] for b in user_turn] == ["tool_result", "tool_result", "text"]
    assert user_turn[1]["tool_use_id"] == "ctx2" and user_turn[1]["cache_control"] == EPHEMERAL
    assert user_turn[2] == {"type": "text", "text": "Code this expense: ACME*4412"}
    assert (
        body["tools"][1]["cache_control"] == EPHEMERAL and "cache_control" not in body["tools"][0]
    )


def test_anthropic_breakpoints_stay_put_as_the_run_grows() -> None:
    turn = (
        UserMessage(content="Code this expense: ACME*4412"),
        AssistantMessage(tool_calls=(ToolCall(id="c1", name="list_vendors", arguments={}),)),
        ToolResultMessage(tool_call_id="c1", name="list_vendors", content='["Acme Corp"]'),
    )
    first = build_body(
        ModelRequest(messages=layout(turn[0]), tools=(ACCOUNTS, VENDORS), cache_prefix=5), "m"
    )
    later = build_body(
        ModelRequest(messages=layout(*turn), tools=(ACCOUNTS, VENDORS), cache_prefix=5), "m"
    )
    assert breakpoints(later) == breakpoints(first)
    prefix_turns = 3  # user note, assistant reads, user results (+ the event, after the mark)
    assert later["messages"][:prefix_turns] == first["messages"][:prefix_turns]


def test_anthropic_without_a_static_prefix_sends_no_breakpoint() -> None:
    request = ModelRequest(
        messages=layout(UserMessage(content="x")), tools=(ACCOUNTS,), response_schema=SCHEMA
    )
    body = build_body(request, "claude-sonnet-4-5")
    assert "cache_control" not in json.dumps(body)
    assert body["system"] == "You code expenses to the tenant's chart of accounts."


def test_anthropic_prefix_of_instructions_only_marks_tools_and_system() -> None:
    request = ModelRequest(
        messages=(SystemMessage(content="rules"), UserMessage(content="event")),
        tools=(ACCOUNTS,),
        response_schema=SCHEMA,
        cache_prefix=1,
    )
    body = build_body(request, "claude-sonnet-4-5")
    # the answer tool is appended last, so it carries the tools' breakpoint
    assert [t["name"] for t in body["tools"]] == ["list_accounts", "response"]
    assert breakpoints(body) == ["tools[1]", "system[0]"]


def test_anthropic_never_marks_an_empty_block_or_a_system_prompt_outside_the_prefix() -> None:
    empty_last = ModelRequest(
        messages=(SystemMessage(content="rules"), UserMessage(content="tenant profile"),
                  UserMessage(content=""), UserMessage(content="event")),
        cache_prefix=3,
    )  # fmt: skip
    body = build_body(empty_last, "m")
    assert breakpoints(body) == ["system[0]", "messages[0][0]"]  # back to the last non-empty
    assert body["messages"][0]["content"][0]["text"] == "tenant profile"

    only_empty = ModelRequest(
        messages=(SystemMessage(content="rules"), UserMessage(content=""),
                  UserMessage(content="event")),
        cache_prefix=2,
    )  # fmt: skip
    assert breakpoints(build_body(only_empty, "m")) == ["system[0]"]

    late_system = ModelRequest(
        messages=(SystemMessage(content="rules"), UserMessage(content="tenant profile"),
                  SystemMessage(content="event-specific note"), UserMessage(content="event")),
        cache_prefix=2,
    )  # fmt: skip
    body = build_body(late_system, "m")
    assert body["system"] == "rules\n\nevent-specific note"  # joined, so not static: no mark
    assert breakpoints(body) == ["messages[0][0]"]

    no_system = ModelRequest(messages=(UserMessage(content="event"),), cache_prefix=9)
    assert breakpoints(build_body(no_system, "m")) == ["messages[0][0]"]


# ---- Anthropic: usage and cost over real HTTP -----------------------------------------------


@pytest.mark.parametrize(
    ("read", "written", "rate"),
    [(2048, 0, 0.30), (0, 2048, 3.75)],
    ids=["cache-read", "cache-write"],
)
def test_anthropic_cache_reads_and_writes_are_parsed_and_priced(
    loopback: Loopback, read: int, written: int, rate: float
) -> None:
    loopback.script.append(anthropic_answer(read=read, written=written))
    settings = LLMSettings.from_env(
        {"ANTHROPIC_API_KEY": "sk-ant-test-cache", "ANTHROPIC_BASE_URL": loopback.url}
    )
    request = ModelRequest(
        messages=layout(UserMessage(content="ACME*4412")), tools=(ACCOUNTS,), cache_prefix=5
    )
    response = complete("anthropic:claude-sonnet-4-5", settings, request)
    assert response.usage == Usage(
        input_tokens=57 + 2048, output_tokens=120,
        cached_input_tokens=read, cache_write_tokens=written,
    )  # fmt: skip
    # claude-sonnet-4-5: $3 per 1M uncached input, $0.30 cache read, $3.75 write, $15 output
    assert response.cost_usd == pytest.approx((57 * 3.0 + 2048 * rate + 120 * 15.0) / 1e6)
    [(path, body)] = loopback.requests
    assert path == "/v1/messages"
    assert breakpoints(body) == ["tools[0]", "system[0]", "messages[2][1]"]


def test_anthropic_usage_with_missing_or_null_cache_fields() -> None:
    assert anthropic_usage({"usage": {"input_tokens": 9, "output_tokens": 1}}) == Usage(
        input_tokens=9, output_tokens=1
    )
    nulls = {"input_tokens": 9, "output_tokens": 1, "cache_read_input_tokens": None,
             "cache_creation_input_tokens": None}  # fmt: skip
    assert anthropic_usage({"usage": nulls}) == Usage(input_tokens=9, output_tokens=1)
    assert anthropic_usage({"usage": None}) == Usage() and anthropic_usage({}) == Usage()


# ---- prices ---------------------------------------------------------------------------------


def test_default_prices_carry_the_published_cache_rates() -> None:
    ratios = {
        name: (p.cached_input_per_mtok / p.input_per_mtok) for name, p in DEFAULT_PRICES.items()
        if p.cached_input_per_mtok is not None
    }  # fmt: skip
    assert set(ratios) == set(DEFAULT_PRICES)
    for name, ratio in ratios.items():
        expected = 0.25 if "gpt-4.1" in name else 0.5 if "gpt-4o" in name else 0.1
        assert ratio == pytest.approx(expected), name
    for name, price in DEFAULT_PRICES.items():
        if name.startswith("anthropic:"):
            assert price.cache_write_per_mtok == pytest.approx(1.25 * price.input_per_mtok)
        else:
            assert price.cache_write_per_mtok is None  # OpenAI does not charge cache writes


def test_unknown_cache_prices_fall_back_to_the_input_price() -> None:
    table = PriceTable(
        prices={"openai-compatible:x": Price(input_per_mtok=1.0, output_per_mtok=2.0)}
    )
    usage = Usage(
        input_tokens=1_000_000, output_tokens=0, cached_input_tokens=600_000, cache_write_tokens=1
    )
    assert table.cost("openai-compatible:x", usage) == pytest.approx(1.0)  # never cheaper
    assert table.cost("local:qwen", usage) == 0.0


def test_usage_adds_cache_figures_and_never_counts_negative_uncached_tokens() -> None:
    total = Usage(input_tokens=100, output_tokens=5, cached_input_tokens=80) + Usage(
        input_tokens=50, output_tokens=1, cache_write_tokens=40
    )
    assert total == Usage(
        input_tokens=150, output_tokens=6, cached_input_tokens=80, cache_write_tokens=40
    )
    assert total.uncached_input_tokens == 30
    assert Usage(input_tokens=10, cached_input_tokens=12).uncached_input_tokens == 0
