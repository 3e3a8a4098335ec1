"""An Anthropic Messages API client over httpx — no vendor SDK.

Structured final answers use Anthropic's documented "JSON output via tool use" pattern: the
requested schema becomes one extra tool (named ``request.response_name``) whose input *is* the
answer. It is forced when it is the only way to answer; alongside real tools the model must
pick some tool (``tool_choice: any``), and a call to the answer tool is turned back into a
normal final message (its JSON as ``content``) before anyone sees it.

Prompt caching: when a request names its static prefix (``ModelRequest.cache_prefix``), the
body carries ``cache_control: {"type": "ephemeral"}`` breakpoints (5-minute cache) where that
prefix ends, in Anthropic's order tools → system → messages: on the last tool, on the system
prompt (then sent as a list of text blocks) and on the last content block of the last
non-system message of the prefix — three of the four breakpoints a request may carry. A
prefix shorter than the model's minimum (1024 tokens for Sonnet 4.5 and Opus 4.1, 4096 for
Haiku 4.5) is simply not cached. The usage block's ``cache_read_input_tokens`` and
``cache_creation_input_tokens`` become :class:`~processors.llm.model.Usage`'s
``cached_input_tokens`` and ``cache_write_tokens``.
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
EPHEMERAL = {"type": "ephemeral"}  # cache_control of a breakpoint (default 5-minute TTL)
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
    system, turns, _ends = _convert(messages)
    return system, turns


BlockAt = tuple[int, int]  # (turn, block) in the Messages-API ``messages`` list


def _convert(
    messages: tuple[Message, ...],
) -> tuple[str | None, list[dict[str, Any]], list[BlockAt | None]]:
    """:func:`convert_messages`, plus where each message's last content block landed once
    turns are merged (``None``: a system message, or a message without blocks)."""
    system = [m.content for m in messages if isinstance(m, SystemMessage)]
    turns: list[dict[str, Any]] = []
    ends: list[BlockAt | None] = []
    for message in messages:
        if isinstance(message, SystemMessage):
            ends.append(None)
            continue
        role = "assistant" if isinstance(message, AssistantMessage) else "user"
        blocks = _content_blocks(message)
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
        ends.append((len(turns) - 1, len(turns[-1]["content"]) - 1) if blocks else None)
    return ("\n\n".join(system) if system else None), turns, ends


def _mark_static_prefix(
    body: dict[str, Any], messages: tuple[Message, ...], ends: list[BlockAt | None], prefix: int
) -> None:
    """Put cache breakpoints where the first ``prefix`` messages end (see the module doc).

    The system prompt is marked only when every system message lies in the prefix (they are
    all joined into it); the message breakpoint goes on the last non-empty content block of
    the last prefix message that has one. Empty blocks are never marked.
    """
    if body.get("tools"):
        body["tools"][-1]["cache_control"] = dict(EPHEMERAL)
    system_is_static = all(
        index < prefix for index, m in enumerate(messages) if isinstance(m, SystemMessage)
    )
    if body.get("system") and system_is_static:
        body["system"] = [
            {"type": "text", "text": body["system"], "cache_control": dict(EPHEMERAL)}
        ]
    for end in reversed(ends[:prefix]):
        if end is None:
            continue
        turn, position = end
        block = body["messages"][turn]["content"][position]
        if _is_empty(block):
            continue
        block["cache_control"] = dict(EPHEMERAL)
        return


def _is_empty(block: dict[str, Any]) -> bool:
    if block["type"] == "text":
        return not block["text"]
    if block["type"] == "tool_result":
        return not block["content"]
    return False


def build_body(request: ModelRequest, served_model: str) -> dict[str, Any]:
    system, turns, ends = _convert(request.messages)
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
    prefix = min(request.cache_prefix, len(request.messages))
    if prefix > 0:
        _mark_static_prefix(body, request.messages, ends, prefix)
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
    return AssistantMessage(content=content, tool_calls=tuple(calls)), parse_usage(data), finish


def parse_usage(data: dict[str, Any]) -> Usage:
    """Token counts of an answer's ``usage``; missing or null fields count 0.

    Anthropic's ``input_tokens`` counts only the prompt after the last cache breakpoint, so
    our ``input_tokens`` (the whole prompt) adds the cache reads and writes to it.
    """
    raw = data.get("usage")
    usage = raw if isinstance(raw, dict) else {}
    read = _count(usage.get("cache_read_input_tokens"))
    written = _count(usage.get("cache_creation_input_tokens"))
    return Usage(
        input_tokens=_count(usage.get("input_tokens")) + read + written,
        output_tokens=_count(usage.get("output_tokens")),
        cached_input_tokens=read,
        cache_write_tokens=written,
    )


def _count(value: Any) -> int:
    """A token count from JSON: a non-negative int; 0 when missing, null or not a number."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


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
