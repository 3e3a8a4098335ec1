"""An OpenAI Chat Completions client over httpx — no vendor SDK.

One class serves OpenAI itself and every server that speaks the same protocol (vLLM, Ollama,
llama.cpp server, LiteLLM, the embedded local server): only ``base_url``, the served model id
and the key differ. Tools, ``tool_choice`` and a JSON-schema ``response_format`` are supported.
Prompt caching needs no marks here: OpenAI (and llama.cpp's server) reuse a byte-identical
prompt prefix by themselves and report the reused part as ``prompt_tokens_details.cached_tokens``.
"""

from __future__ import annotations

import json
import time
from typing import Any

from processors.errors import TransientError
from processors.llm._http import ProviderHTTP, estimate_tokens
from processors.llm.config import PriceTable
from processors.llm.model import (
    AssistantMessage,
    Message,
    ModelRequest,
    ModelResponse,
    SystemMessage,
    ToolCall,
    Usage,
    UserMessage,
)

TOOL_ERROR_PREFIX = "[tool error] "


def message_to_openai(message: Message) -> dict[str, Any]:
    """One of our messages as a Chat Completions message."""
    if isinstance(message, SystemMessage):
        return {"role": "system", "content": message.content}
    if isinstance(message, UserMessage):
        return {"role": "user", "content": message.content}
    if isinstance(message, AssistantMessage):
        out: dict[str, Any] = {"role": "assistant", "content": message.content}
        if message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in message.tool_calls
            ]
        return out
    content = (TOOL_ERROR_PREFIX if message.is_error else "") + message.content
    return {"role": "tool", "tool_call_id": message.tool_call_id, "content": content}


def build_body(
    request: ModelRequest, served_model: str, *, max_tokens_field: str = "max_tokens"
) -> dict[str, Any]:
    """The Chat Completions request body for ``request``."""
    body: dict[str, Any] = {
        "model": served_model,
        "messages": [message_to_openai(m) for m in request.messages],
    }
    if request.tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                },
            }
            for t in request.tools
        ]
        if request.tool_choice in ("auto", "none", "required"):
            body["tool_choice"] = request.tool_choice
        else:
            body["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice}}
    if request.response_schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": request.response_name, "schema": request.response_schema},
        }
    settings = request.settings
    if settings.temperature is not None:
        body["temperature"] = settings.temperature
    if settings.max_tokens is not None:
        body[max_tokens_field] = settings.max_tokens
    if settings.seed is not None:
        body["seed"] = settings.seed
    return body


def parse_response(
    data: dict[str, Any], provider: str
) -> tuple[AssistantMessage, Usage, str | None]:
    """Our assistant message, usage and finish reason from a Chat Completions answer."""
    try:
        choice = data["choices"][0]
        raw = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise TransientError(f"{provider} returned an answer without choices") from None
    calls = []
    for call in raw.get("tool_calls") or ():
        function = call.get("function") or {}
        arguments = function.get("arguments") or "{}"
        invalid: str | None = None
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
        except ValueError:
            parsed, invalid = {}, f"arguments are not JSON: {str(arguments)[:200]}"
        if not isinstance(parsed, dict):
            parsed, invalid = {}, f"arguments are not a JSON object: {str(arguments)[:200]}"
        # the loop tells the model (a correction), instead of re-running the whole event
        calls.append(
            ToolCall(id=call.get("id") or "", name=function.get("name", ""), arguments=parsed,
                     invalid_arguments=invalid)
        )  # fmt: skip
    message = AssistantMessage(content=raw.get("content"), tool_calls=tuple(calls))
    return message, parse_usage(data.get("usage")), choice.get("finish_reason")


def parse_usage(raw: Any) -> Usage:
    """Token counts of a Chat Completions ``usage`` block; missing or null fields count 0.

    ``prompt_tokens`` is the whole prompt; ``prompt_tokens_details.cached_tokens`` the part
    of it served from the provider's prefix cache (OpenAI's automatic prompt caching, and
    llama.cpp-style servers that report their reused KV cache in the same place).
    """
    usage = raw if isinstance(raw, dict) else {}
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        input_tokens=_count(usage.get("prompt_tokens")),
        output_tokens=_count(usage.get("completion_tokens")),
        cached_input_tokens=_count(cached),
    )


def _count(value: Any) -> int:
    """A token count from JSON: a non-negative int; 0 when missing, null or not a number."""
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


class OpenAICompatibleModel:
    """A :class:`processors.llm.model.Model` speaking OpenAI Chat Completions.

    ``name`` is the full model string (``openai:gpt-4.1-mini``, ``local:qwen2.5-coder-1.5b``),
    ``served_model`` the id sent as ``model`` in the body."""

    def __init__(
        self, *, name: str, served_model: str, http: ProviderHTTP, prices: PriceTable
    ) -> None:
        self._name = name
        self._served_model = served_model
        self._http = http
        self._prices = prices
        # OpenAI itself wants max_completion_tokens (reasoning models refuse max_tokens);
        # gateways and local servers universally accept max_tokens.
        self._max_tokens_field = (
            "max_completion_tokens" if self.provider == "openai" else "max_tokens"
        )

    def __repr__(self) -> str:
        return f"OpenAICompatibleModel(name={self._name!r}, base_url={self._http.base_url!r})"

    @property
    def name(self) -> str:
        return self._name

    @property
    def provider(self) -> str:
        return self._name.split(":", 1)[0]

    @property
    def base_url(self) -> str:
        """Where requests go (``server.address``/``server.port`` of the chat span)."""
        return self._http.base_url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def complete(self, request: ModelRequest) -> ModelResponse:
        body = build_body(request, self._served_model, max_tokens_field=self._max_tokens_field)
        if self.provider == "local" and request.cache_prefix:
            # our own server (not part of the OpenAI API): which leading messages are the
            # daemon's and tenant's part, so it keeps them in a slot of their own
            body["cache_prefix"] = request.cache_prefix
        estimate = estimate_tokens(body, request.settings.max_tokens)
        started = time.monotonic()
        data = await self._http.post_json("/chat/completions", body, estimated_tokens=estimate)
        latency = time.monotonic() - started
        message, usage, finish_reason = parse_response(data, self.provider)
        self._http.settle(estimate, usage.input_tokens + usage.output_tokens)
        return ModelResponse(
            message=message,
            usage=usage,
            model=self._name,
            finish_reason=finish_reason,
            cost_usd=self._prices.cost(self._name, usage),
            latency_s=latency,
        )
