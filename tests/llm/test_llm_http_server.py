"""The OpenAI-compatible provider against a real HTTP server on 127.0.0.1 (a stdlib server in
a thread playing OpenAI): the happy path and a 429 with Retry-After."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from processors.llm.config import LLMSettings, ModelRetries
from processors.llm.model import ModelRequest, ToolSpec, UserMessage
from processors.llm.registry import load_model


class FakeOpenAI(ThreadingHTTPServer):
    """Answers /v1/chat/completions from a script of (status, headers, body)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        self.requests: list[tuple[float, dict[str, Any], dict[str, str]]] = []


class _Handler(BaseHTTPRequestHandler):
    server: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((time.monotonic(), body, dict(self.headers)))
        status, headers, payload = self.server.script.pop(0)
        data = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in {**headers, "Content-Type": "application/json"}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    assert server.script == [], "scripted answers were left unused"


def _model(server: FakeOpenAI) -> Any:
    port = server.server_address[1]
    settings = LLMSettings(compatible_api_key=None, retry=ModelRetries(max_attempts=3))
    return load_model(f"openai-compatible:http://127.0.0.1:{port}/v1#served-model", settings)


TOOL = ToolSpec(name="ping", description="Ping", parameters={"type": "object", "properties": {}})
OK = {
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "ping", "arguments": "{}"},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3},
}


def test_happy_path_over_real_http(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.append((200, {}, OK))
    model = _model(fake_openai)

    async def go() -> Any:
        try:
            return await model.complete(
                ModelRequest(messages=(UserMessage(content="ping"),), tools=(TOOL,))
            )
        finally:
            await model.aclose()

    response = asyncio.run(go())
    assert response.message.tool_calls[0].name == "ping"
    assert response.usage.input_tokens == 12 and response.usage.output_tokens == 3
    assert response.latency_s > 0
    ((_, body, _),) = fake_openai.requests
    assert body["model"] == "served-model" and body["tools"][0]["function"]["name"] == "ping"


def test_429_with_retry_after_is_waited_out_over_real_http(fake_openai: FakeOpenAI) -> None:
    fake_openai.script.append((429, {"Retry-After": "1"}, {"error": {"message": "rate limited"}}))
    fake_openai.script.append((200, {}, OK))
    model = _model(fake_openai)

    async def go() -> Any:
        try:
            return await model.complete(
                ModelRequest(messages=(UserMessage(content="ping"),), tools=(TOOL,))
            )
        finally:
            await model.aclose()

    response = asyncio.run(go())
    assert response.finish_reason == "tool_calls"
    (first, _, _), (second, _, _) = fake_openai.requests
    assert second - first >= 1.0
