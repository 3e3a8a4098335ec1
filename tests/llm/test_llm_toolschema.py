"""The local server's tool-calling translation: schema unions, results, and the HTTP server
(with a scripted engine, no model) reached through the OpenAI-compatible provider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from processors.errors import ProviderError
from processors.llm.config import LLMSettings
from processors.llm.local import toolschema
from processors.llm.local.server import LocalHTTPServer, complete
from processors.llm.model import (
    AssistantMessage,
    ModelRequest,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    UserMessage,
)
from processors.llm.registry import load_model


def tool(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": name, "description": name, "parameters": params},
    }


INVOICE = tool(
    "get_invoice",
    {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
)
CATEGORIZE = tool(
    "categorize",
    {
        "type": "object",
        "properties": {"category": {"$ref": "#/$defs/Category"}},
        "required": ["category"],
        "$defs": {"Category": {"enum": ["travel", "meals"]}},
    },
)
ANSWER = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def accepts(schema: dict[str, Any], value: Any) -> bool:
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    return True


def test_auto_union_accepts_each_tool_and_the_final_answer_only() -> None:
    union = toolschema.build_union([INVOICE, CATEGORIZE], "auto", ANSWER)
    assert len(union["anyOf"]) == 3
    assert accepts(union, {"tool": "get_invoice", "arguments": {"id": "7"}})
    assert accepts(union, {"tool": "categorize", "arguments": {"category": "travel"}})
    assert accepts(union, {"final": {"ok": True}})
    assert not accepts(union, {"tool": "get_invoice", "arguments": {}})  # missing id
    assert not accepts(union, {"tool": "categorize", "arguments": {"category": "rent"}})
    assert not accepts(union, {"tool": "delete_all", "arguments": {}})
    assert not accepts(union, {"final": "free text"})
    # the tool's $defs were hoisted and renamed so its $ref still resolves
    assert "tool_categorize__Category" in union["$defs"]


@pytest.mark.parametrize(
    ("choice", "allowed"),
    [
        ("none", [{"final": "hello"}]),
        (
            "required",
            [
                {"tool": "get_invoice", "arguments": {"id": "1"}},
                {"tool": "categorize", "arguments": {"category": "meals"}},
            ],
        ),
        (
            {"type": "function", "function": {"name": "categorize"}},
            [{"tool": "categorize", "arguments": {"category": "meals"}}],
        ),
    ],
)
def test_tool_choice_narrows_the_union(choice: Any, allowed: list[Any]) -> None:
    union = toolschema.build_union([INVOICE, CATEGORIZE], choice, None)
    candidates = [
        {"final": "hello"},
        {"tool": "get_invoice", "arguments": {"id": "1"}},
        {"tool": "categorize", "arguments": {"category": "meals"}},
    ]
    assert [c for c in candidates if accepts(union, c)] == allowed


def test_unknown_named_tool_is_a_bad_request() -> None:
    with pytest.raises(ProviderError, match="unknown tool"):
        toolschema.build_union([INVOICE], {"type": "function", "function": {"name": "x"}}, None)


def test_results_translate_to_standard_messages() -> None:
    message, finish = toolschema.translate(
        '{"tool": "get_invoice", "arguments": {"id": "9"}}', None
    )
    assert finish == "tool_calls" and message["content"] is None
    (call,) = message["tool_calls"]
    assert call["type"] == "function" and call["id"].startswith("call_")
    assert call["function"] == {"name": "get_invoice", "arguments": '{"id": "9"}'}
    assert toolschema.translate('{"final": "plain"}', None) == (
        {"role": "assistant", "content": "plain"},
        "stop",
    )
    message, finish = toolschema.translate('{"final": {"ok": true}}', ANSWER)
    assert json.loads(message["content"]) == {"ok": True} and finish == "stop"
    assert toolschema.translate('{"tool": "get_inv', None)[1] == "length"


def test_compact_schema_drops_noise_but_keeps_meaning() -> None:
    from pydantic import BaseModel, Field

    class Filter(BaseModel, extra="forbid"):
        vendor_id: str | None = Field(default=None, description="Only this vendor.")
        limit: int = Field(default=50, ge=1)

    full = Filter.model_json_schema()
    small = toolschema.compact(full)
    assert small == {
        "properties": {
            "vendor_id": {"type": ["string", "null"], "description": "Only this vendor."},
            "limit": {"default": 50, "minimum": 1, "type": "integer"},
        },
        "type": "object",
    }
    # what the compact form says is still a schema that agrees with the original
    for value in ({"vendor_id": None}, {"vendor_id": "v1", "limit": 3}, {"limit": 0}):
        assert accepts(small, value) == accepts(full, value)


def test_the_guide_is_the_same_every_turn_and_the_turn_note_closes_the_tools() -> None:
    guide = toolschema.instructions([INVOICE, CATEGORIZE], "auto", ANSWER)
    assert "get_invoice" in guide and "categorize" in guide and '"final"' in guide
    assert toolschema.instructions([INVOICE, CATEGORIZE], "none", ANSWER) == guide
    assert toolschema.turn_note([INVOICE], "auto") is None
    assert toolschema.turn_note([], "none") is None
    assert "final answer now" in (toolschema.turn_note([INVOICE], "none") or "")
    named = {"type": "function", "function": {"name": "categorize"}}
    forced = toolschema.instructions([INVOICE, CATEGORIZE], named, ANSWER)
    assert "categorize" in forced and "get_invoice" not in forced and '"final"' not in forced


class ScriptedEngine:
    """Plays llama.cpp: returns scripted contents, records requests, fails on surprises."""

    model_id = "scripted"

    def __init__(self, *contents: str) -> None:
        self.contents = list(contents)
        self.requests: list[dict[str, Any]] = []

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self.contents, "unexpected call to the engine"
        self.requests.append(body)
        content = self.contents.pop(0)
        return {
            "choices": [
                {"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 40, "completion_tokens": 8, "total_tokens": 48},
        }


def test_complete_constrains_the_engine_and_replays_history() -> None:
    engine = ScriptedEngine('{"final": {"ok": true}}')
    body = {
        "messages": [
            {"role": "system", "content": "You are a bookkeeper."},
            {"role": "user", "content": "check 7"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_invoice", "arguments": '{"id": "7"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"paid": true}'},
        ],
        "tools": [INVOICE],
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": ANSWER}},
        "temperature": 0,
    }
    answer = complete(engine, body)
    (sent,) = engine.requests
    assert sent["response_format"]["json_schema"]["schema"] == toolschema.build_union(
        [INVOICE], "auto", ANSWER
    )
    assert "tools" not in sent and sent["temperature"] == 0
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert sent["messages"][0]["content"].startswith("You are a bookkeeper.")
    assert "get_invoice" in sent["messages"][0]["content"]
    assert json.loads(sent["messages"][2]["content"]) == {
        "tool": "get_invoice",
        "arguments": {"id": "7"},
    }
    assert sent["messages"][3]["content"] == 'Result of tool get_invoice: {"paid": true}'
    assert answer["choices"][0]["message"]["content"] == '{"ok": true}'
    assert answer["usage"] == {
        "prompt_tokens": 40,
        "completion_tokens": 8,
        "total_tokens": 48,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


def test_the_server_temperature_applies_only_when_the_request_names_none() -> None:
    engine = ScriptedEngine(*['{"final": {"ok": true}}'] * 4)
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "check 7"}]}
    complete(engine, body)  # default: greedy
    complete(engine, body, temperature=0.3)
    complete(engine, {**body, "temperature": 0.9}, temperature=0.3)  # the request wins
    complete(engine, body, temperature=None)  # llama.cpp's own default
    assert [r.get("temperature") for r in engine.requests] == [0.0, 0.3, 0.9, None]
    assert "temperature" not in engine.requests[3]


def test_closing_the_tools_keeps_the_prompt_prefix_and_adds_a_note_at_the_end() -> None:
    engine = ScriptedEngine(
        '{"tool": "get_invoice", "arguments": {"id": "7"}}', '{"final": {"ok": true}}'
    )
    history: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a bookkeeper."},
        {"role": "user", "content": "check 7"},
    ]
    schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": ANSWER}}
    complete(engine, {"messages": history, "tools": [INVOICE], "response_format": schema})
    complete(
        engine,
        {"messages": history, "tools": [INVOICE], "response_format": schema, "tool_choice": "none"},
    )
    first, last = engine.requests
    assert last["messages"][: len(first["messages"])] == first["messages"]
    assert last["messages"][-1]["role"] == "user"
    assert "final answer now" in last["messages"][-1]["content"]
    assert "get_invoice" not in json.dumps(last["response_format"]["json_schema"]["schema"])


@pytest.fixture
def scripted_server() -> Iterator[tuple[LocalHTTPServer, ScriptedEngine]]:
    engine = ScriptedEngine('{"tool": "get_invoice", "arguments": {"id": "INV-1"}}')
    server = LocalHTTPServer(engine, "127.0.0.1", 0)
    server.start_in_thread()
    yield server, engine
    server.shutdown()
    server.server_close()
    assert engine.contents == [], "scripted answers were left unused"


def test_local_server_speaks_openai_to_the_provider(
    scripted_server: tuple[LocalHTTPServer, ScriptedEngine],
) -> None:
    server, _ = scripted_server
    assert httpx.get(server.url.removesuffix("/v1") + "/health").json()["status"] == "ok"
    models = httpx.get(server.url + "/models").json()
    assert models["data"][0]["id"] == "scripted"
    assert httpx.post(server.url + "/chat/completions", content=b"{nope").status_code == 400
    assert (
        httpx.post(
            server.url + "/chat/completions", json={"messages": [], "stream": True}
        ).status_code
        == 400
    )

    model = load_model("local:scripted", LLMSettings(local_base_url=server.url))
    spec = ToolSpec(
        name="get_invoice", description="d", parameters=INVOICE["function"]["parameters"]
    )

    async def go() -> Any:
        try:
            return await model.complete(
                ModelRequest(messages=(UserMessage(content="x"),), tools=(spec,))
            )
        finally:
            await model.aclose()

    response = asyncio.run(go())
    (call,) = response.message.tool_calls
    assert (call.name, call.arguments) == ("get_invoice", {"id": "INV-1"})
    assert response.finish_reason == "tool_calls" and response.cost_usd == 0.0
    assert response.usage.input_tokens == 40


def test_history_with_our_own_messages_round_trips() -> None:
    from processors.llm.openai import message_to_openai

    engine = ScriptedEngine('{"final": "done"}')
    messages = [
        UserMessage(content="x"),
        AssistantMessage(tool_calls=(ToolCall(id="a", name="get_invoice", arguments={"id": "1"}),)),
        ToolResultMessage(tool_call_id="a", name="get_invoice", content="err", is_error=True),
    ]
    answer = complete(
        engine, {"messages": [message_to_openai(m) for m in messages], "tools": [INVOICE]}
    )
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "done"}
    assert (
        engine.requests[0]["messages"][-1]["content"]
        == "Result of tool get_invoice: [tool error] err"
    )


def test_local_servers_take_turns_on_the_machine_lock(tmp_path: Any) -> None:
    import threading
    import time

    from processors.llm.local.engine import machine_turn

    lock = tmp_path / "cpu.lock"
    order: list[str] = []
    held = threading.Event()

    def other_server() -> None:
        held.wait(5)
        with machine_turn(lock):
            order.append("other")

    thread = threading.Thread(target=other_server)
    thread.start()
    with machine_turn(lock):
        held.set()
        time.sleep(0.3)  # the other server is blocked on the lock all this time
        order.append("first")
    thread.join(5)
    assert order == ["first", "other"]
