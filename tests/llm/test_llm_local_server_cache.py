"""The local server reports what llama.cpp read from its prompt cache, and how fast it is.

``usage.prompt_tokens_details.cached_tokens`` (OpenAI's shape, so the ordinary provider reads
it into ``Usage.cached_input_tokens``) and ``GET /health``'s measured token rates, which the
demo's progress estimates use. A scripted engine plays llama.cpp; the HTTP is real."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from processors.llm.config import LLMSettings
from processors.llm.local.server import LocalHTTPServer, Rates, complete
from processors.llm.model import ModelRequest, SystemMessage, UserMessage
from processors.llm.registry import load_model


class CachingEngine:
    """Plays llama.cpp answering with timings: ``cached`` of ``prompt`` tokens reused."""

    model_id = "scripted"

    def __init__(self, *answers: tuple[int, int]) -> None:
        self.answers = list(answers)

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self.answers, "unexpected call to the engine"
        prompt, cached = self.answers.pop(0)
        return {
            "choices": [
                {
                    "message": {"role": "assistant", "content": '{"final": "ok"}'},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": 20,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
            "timings": {
                "prompt_n": prompt - cached,
                "cache_n": cached,
                "prompt_ms": 2000.0,
                "predicted_n": 20,
                "predicted_ms": 2500.0,
            },
        }


BODY = {"messages": [{"role": "system", "content": "rules"}, {"role": "user", "content": "q"}]}


def test_cached_prompt_tokens_are_reported_as_openai_does() -> None:
    answer = complete(CachingEngine((1700, 1500)), BODY)
    assert answer["usage"] == {
        "prompt_tokens": 1700,  # the whole prompt
        "completion_tokens": 20,
        "total_tokens": 1720,
        "prompt_tokens_details": {"cached_tokens": 1500},  # of which read from the cache
    }


def test_an_engine_without_cache_details_falls_back_to_its_timings() -> None:
    class Older(CachingEngine):
        def chat(self, body: dict[str, Any]) -> dict[str, Any]:
            answer = super().chat(body)
            del answer["usage"]["prompt_tokens_details"]
            return answer

    answer = complete(Older((900, 600)), BODY)
    assert answer["usage"]["prompt_tokens_details"] == {"cached_tokens": 600}


def test_rates_are_measured_over_recent_completions() -> None:
    rates = Rates(window=2)
    assert rates.snapshot() == {
        "prompt_tokens_per_s": None,
        "generated_tokens_per_s": None,
        "completions": 0,
    }
    rates.add({"prompt_n": 100, "prompt_ms": 1000.0, "predicted_n": 10, "predicted_ms": 1000.0})
    rates.add({"prompt_n": 300, "prompt_ms": 1000.0, "predicted_n": 30, "predicted_ms": 3000.0})
    assert rates.snapshot() == {
        "prompt_tokens_per_s": 200.0,
        "generated_tokens_per_s": 10.0,
        "completions": 2,
    }
    rates.add({"prompt_n": 500, "prompt_ms": 1000.0, "predicted_n": 40, "predicted_ms": 2000.0})
    snapshot = rates.snapshot()  # the oldest has left the window
    assert snapshot["prompt_tokens_per_s"] == 400.0 and snapshot["completions"] == 3
    rates.add("not timings")  # an engine that reports none changes nothing
    assert rates.snapshot()["completions"] == 3


def test_cached_tokens_and_rates_over_real_http() -> None:
    server = LocalHTTPServer(CachingEngine((1700, 0), (1750, 1690)), port=0)
    server.start_in_thread()
    model = load_model("local:scripted", LLMSettings(local_base_url=server.url))
    request = ModelRequest(messages=(SystemMessage(content="rules"), UserMessage(content="q")))

    async def go() -> list[Any]:
        try:
            return [await model.complete(request), await model.complete(request)]
        finally:
            await model.aclose()  # type: ignore[attr-defined]

    try:
        first, second = asyncio.run(go())
        health = httpx.get(server.url.removesuffix("/v1") + "/health", timeout=5).json()
    finally:
        server.shutdown()
        server.server_close()
    assert (first.usage.input_tokens, first.usage.cached_input_tokens) == (1700, 0)
    assert (second.usage.input_tokens, second.usage.cached_input_tokens) == (1750, 1690)
    assert health["status"] == "ok"
    # (1700 + 60) computed tokens in 2 s + 2 s; 20 + 20 generated in 2.5 s + 2.5 s
    assert health["rates"] == {
        "prompt_tokens_per_s": 440.0,
        "generated_tokens_per_s": 8.0,
        "completions": 2,
    }


def test_the_cacheable_prefix_becomes_the_engines_slot_key() -> None:
    seen: list[dict[str, Any]] = []

    class Recording(CachingEngine):
        def chat(self, body: dict[str, Any]) -> dict[str, Any]:
            seen.append(body)
            return super().chat(body)

    messages = [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": "T1 books"},
        {"role": "user", "content": "event"},
    ]
    engine = Recording((100, 0), (100, 0), (100, 0))
    complete(engine, {"messages": messages, "cache_prefix": 2})
    complete(
        engine,
        {"messages": [*messages[:2], {"role": "user", "content": "another"}], "cache_prefix": 2},
    )
    complete(engine, {"messages": messages})  # no prefix said: no key
    assert seen[0]["prefix_key"] == seen[1]["prefix_key"]
    assert "prefix_key" not in seen[2] and "cache_prefix" not in seen[0]


def test_an_answer_schema_of_its_own_keys_a_slot_of_its_own() -> None:
    """The format guide (the answer schema) joins the system prompt: two tenants whose
    messages are alike but whose answer schemas name their own accounts are two prefixes."""
    seen: list[dict[str, Any]] = []

    class Recording(CachingEngine):
        def chat(self, body: dict[str, Any]) -> dict[str, Any]:
            seen.append(body)
            return super().chat(body)

    def body(accounts: list[str]) -> dict[str, Any]:
        schema = {"type": "object", "properties": {"account": {"enum": accounts}}}
        return {
            "messages": [{"role": "system", "content": "rules"},
                         {"role": "user", "content": "the books were read"},
                         {"role": "user", "content": "event"}],
            "cache_prefix": 2,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "Q", "schema": schema}},
        }  # fmt: skip

    engine = Recording((100, 0), (100, 0), (100, 0))
    for accounts in (["Rent"], ["Fuel"], ["Rent"]):
        complete(engine, body(accounts))
    keys = [request["prefix_key"] for request in seen]
    assert keys[0] == keys[2] != keys[1]


def test_only_the_local_provider_sends_the_cacheable_prefix() -> None:
    import httpx as _httpx

    from processors.llm.openai import OpenAICompatibleModel
    from processors.llm.registry import load_model as _load

    bodies: list[dict[str, Any]] = []

    def handler(request: _httpx.Request) -> _httpx.Response:
        import json as _json

        bodies.append(_json.loads(request.content))
        return _httpx.Response(
            200,
            json={
                "choices": [
                    {"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
                ],
                "usage": {},
            },
        )

    client = _httpx.AsyncClient(transport=_httpx.MockTransport(handler))
    request = ModelRequest(
        messages=(
            SystemMessage(content="rules"),
            UserMessage(content="T1"),
            UserMessage(content="event"),
        ),
        cache_prefix=2,
    )
    for name in ("local:scripted", "openai-compatible:http://gw.example/v1#m"):
        model = _load(name, LLMSettings(local_base_url="http://127.0.0.1:1/v1"), client=client)
        assert isinstance(model, OpenAICompatibleModel)
        asyncio.run(model.complete(request))
    assert bodies[0]["cache_prefix"] == 2 and "cache_prefix" not in bodies[1]
