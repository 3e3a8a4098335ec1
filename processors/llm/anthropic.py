"""An Anthropic Messages API client over httpx — no vendor SDK.

Structured final answers use Anthropic's documented "JSON output via tool use" pattern: the
requested schema becomes one extra tool (named ``request.response_name``) whose input *is* the
answer. It is forced when it is the only way to answer; alongside real tools the model must
pick some tool (``tool_choice: any``), and a call to the answer tool is turned back into a
normal final message (its JSON as ``content``) before anyone sees it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from processors.errors import ConfigError, TransientError
from processors.llm._http import ProviderHTTP, estimate_tokens
from processors.llm.config import PriceTable
from processors.llm.model import (
    AssistantMessage,
    Message,
    ModelRequest,
    ModelResponse,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    Usage,
    UserMessage,
)

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
_STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
}


def _content_blocks(message: Message) -> list[dict[str, Any]]:
    if isinstance(message, UserMessage):
        return [{"type": "text", "text": message.content}]
    if isinstance(message, ToolResultMessage):
        return [
            {
                "type": "tool_result",
                "tool_use_id": message.tool_call_id,
                "content": message.content,
                "is_error": message.is_error,
            }
        ]
    assert isinstance(message, AssistantMessage)
    blocks: list[dict[str, Any]] = []
    if message.content:
        blocks.append({"type": "text", "text": message.content})
    blocks.extend(
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
        for c in message.tool_calls
    )
    return blocks


def convert_messages(messages: tuple[Message, ...]) -> tuple[str | None, list[dict[str, Any]]]:
    """System prompt and Messages-API turns; consecutive same-role turns are merged (tool
    results travel in ``user`` turns, as the API requires)."""
    system = [m.content for m in messages if isinstance(m, SystemMessage)]
    turns: list[dict[str, Any]] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            continue
        role = "assistant" if isinstance(message, AssistantMessage) else "user"
        blocks = _content_blocks(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return ("\n\n".join(system) if system else None), turns


def build_body(request: ModelRequest, served_model: str) -> dict[str, Any]:
    system, turns = convert_messages(request.messages)
    body: dict[str, Any] = {
        "model": served_model,
        "max_tokens": request.settings.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": turns,
    }
    if system:
        body["system"] = system
    choice = request.tool_choice
    tools = [
        {"name": t.name, "description": t.description, "input_schema": t.parameters}
        for t in request.tools
    ]
    if request.response_schema is not None and choice in ("auto", "none"):
        if any(t.name == request.response_name for t in request.tools):
            raise ConfigError(f"response_name {request.response_name!r} collides with a tool")
        answer_tool = {
            "name": request.response_name,
            "description": "Give the final answer. Call this exactly once, when you are done.",
            "input_schema": request.response_schema,
        }
        if choice == "none" or not tools:
            tools, tool_choice = [answer_tool], {"type": "tool", "name": request.response_name}
        else:
            tools, tool_choice = [*tools, answer_tool], {"type": "any"}
        body["tools"], body["tool_choice"] = tools, tool_choice
    elif tools:
        body["tools"] = tools
        body["tool_choice"] = (
            {"type": "auto"}
            if choice == "auto"
            else {"type": "none"}
            if choice == "none"
            else {"type": "any"}
            if choice == "required"
            else {"type": "tool", "name": choice}
        )
    if request.settings.temperature is not None:
        body["temperature"] = request.settings.temperature
    return body


def parse_response(
    data: dict[str, Any], response_name: str | None
) -> tuple[AssistantMessage, Usage, str | None]:
    """Our message, usage and finish reason; a call to the answer tool becomes the content."""
    blocks = data.get("content")
    if not isinstance(blocks, list):
        raise TransientError("anthropic returned an answer without content")
    texts: list[str] = []
    calls: list[ToolCall] = []
    answer: str | None = None
    for block in blocks:
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            if response_name is not None and block.get("name") == response_name:
                answer = json.dumps(block.get("input") or {})
            else:
                calls.append(
                    ToolCall(id=block["id"], name=block["name"], arguments=block.get("input") or {})
                )
    finish = _STOP_REASONS.get(str(data.get("stop_reason")), data.get("stop_reason"))
    content: str | None
    if answer is not None and not calls:
        content, finish = answer, "stop"
    else:
        content = "".join(texts) or None
    raw = data.get("usage") or {}
    usage = Usage(
        input_tokens=int(raw.get("input_tokens") or 0)
        + int(raw.get("cache_creation_input_tokens") or 0)
        + int(raw.get("cache_read_input_tokens") or 0),
        output_tokens=int(raw.get("output_tokens") or 0),
    )
    return AssistantMessage(content=content, tool_calls=tuple(calls)), usage, finish


class AnthropicModel:
    """A :class:`processors.llm.model.Model` speaking the Anthropic Messages API."""

    def __init__(
        self, *, name: str, served_model: str, http: ProviderHTTP, prices: PriceTable
    ) -> None:
        self._name = name
        self._served_model = served_model
        self._http = http
        self._prices = prices

    def __repr__(self) -> str:
        return f"AnthropicModel(name={self._name!r}, base_url={self._http.base_url!r})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def provider(self) -> str:
        return "anthropic"

    @property
    def base_url(self) -> str:
        """Where requests go (``server.address``/``server.port`` of the chat span)."""
        return self._http.base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        body = build_body(request, self._served_model)
        estimate = estimate_tokens(body, body["max_tokens"])
        started = time.monotonic()
        data = await self._http.post_json("/v1/messages", body, estimated_tokens=estimate)
        latency = time.monotonic() - started
        structured = request.response_schema is not None and request.tool_choice in ("auto", "none")
        message, usage, finish = parse_response(data, request.response_name if structured else None)
        self._http.settle(estimate, usage.input_tokens + usage.output_tokens)
        return ModelResponse(
            message=message,
            usage=usage,
            model=self._name,
            finish_reason=finish,
            cost_usd=self._prices.cost(self._name, usage),
            latency_s=latency,
        )
