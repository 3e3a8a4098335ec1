"""The :class:`Meter` every model call of a run goes through: span, timing, record, budget.

The ``chat {model}`` span follows the OpenTelemetry GenAI conventions (provider, request and
response model, sampling parameters, token usage with its cache reads and writes, finish
reasons) plus our own cost, prompt version and purpose. Message text goes on it only with
``capture_content`` (the ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`` opt-in),
and then redacted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from opentelemetry.trace import Span, SpanKind, Tracer
from opentelemetry.util.types import AttributeValue

from processors.agent.limits import Budget
from processors.agent.record import ModelCallRecord, RunRecord
from processors.llm.model import (
    AssistantMessage,
    Message,
    Model,
    ModelRequest,
    ModelResponse,
    ModelSettings,
    SystemMessage,
    ToolResultMessage,
    Usage,
)
from processors.untrusted.redaction import redact

COST_ATTRIBUTE = "daemons.usage.cost_usd"
# GenAI semantic conventions: parts of gen_ai.usage.input_tokens, set when non-zero.
CACHE_READ_ATTRIBUTE = "gen_ai.usage.cache_read.input_tokens"
CACHE_CREATION_ATTRIBUTE = "gen_ai.usage.cache_creation.input_tokens"
PROMPT_VERSION_ATTRIBUTE = "daemons.prompt.version"


def request_model(name: str) -> str:
    """``gen_ai.request.model`` of a model string: ``openai:gpt-4.1-mini`` → ``gpt-4.1-mini``,
    ``openai-compatible:http://host/v1#served`` → ``served``."""
    model = name.split(":", 1)[-1]
    return model.rsplit("#", 1)[-1] if "#" in model else model


def settings_attributes(settings: ModelSettings) -> dict[str, AttributeValue]:
    """The ``gen_ai.request.*`` sampling attributes that are set."""
    found = {
        "gen_ai.request.temperature": settings.temperature,
        "gen_ai.request.max_tokens": settings.max_tokens,
        "gen_ai.request.seed": settings.seed,
    }
    return {k: v for k, v in found.items() if v is not None}


def cache_attributes(usage: Usage) -> dict[str, AttributeValue]:
    """``gen_ai.usage.cache_read.input_tokens`` and ``…cache_creation.input_tokens``, each
    only when non-zero (as the conventions recommend)."""
    found = {
        CACHE_READ_ATTRIBUTE: usage.cached_input_tokens,
        CACHE_CREATION_ATTRIBUTE: usage.cache_write_tokens,
    }
    return {k: v for k, v in found.items() if v}


@dataclass(frozen=True, slots=True)
class Meter:
    """What one run reports to: its budget, its record, the tracer and the clock."""

    budget: Budget
    record: RunRecord
    tracer: Tracer
    clock: Callable[[], float]
    capture_content: bool = False

    async def chat(
        self,
        model: Model,
        request: ModelRequest,
        *,
        purpose: Literal["plan", "execute"],
        turn: int,
        prompt_version: str,
    ) -> ModelResponse:
        """Call ``model``, record the call, then charge the budget (which may raise).

        The span carries GenAI semantic-convention attributes; prompt and completion text
        only when ``capture_content`` is on.
        """
        model_id = request_model(model.name)
        attributes: dict[str, AttributeValue] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": model.provider,
            "gen_ai.request.model": model_id,
            PROMPT_VERSION_ATTRIBUTE: prompt_version,
            "daemons.model_call.purpose": purpose,
            **settings_attributes(request.settings),
        }
        attributes.update(_server(model))
        if self.capture_content:
            attributes.update(_input_content(request.messages))
        with self.tracer.start_as_current_span(
            f"chat {model_id}", kind=SpanKind.CLIENT, attributes=attributes, record_exception=False
        ) as span:
            started = self.clock()
            try:
                response = await model.complete(request)
            except Exception as exc:
                record_error(span, exc)
                raise
            latency = self.clock() - started
            span.set_attributes(
                {
                    "gen_ai.response.model": response.model,
                    "gen_ai.usage.input_tokens": response.usage.input_tokens,
                    "gen_ai.usage.output_tokens": response.usage.output_tokens,
                    "gen_ai.response.finish_reasons": [response.finish_reason or "unknown"],
                    COST_ATTRIBUTE: response.cost_usd,
                    **cache_attributes(response.usage),
                }
            )
            if self.capture_content:
                span.set_attribute("gen_ai.output.messages", _output_content(response.message))
            span_id = span_id_hex(span)  # while recording
        self.record.model_calls.append(
            ModelCallRecord(
                purpose=purpose,
                turn=turn,
                model=response.model,
                provider=model.provider,
                prompt_version=prompt_version,
                temperature=request.settings.temperature,
                max_tokens=request.settings.max_tokens,
                seed=request.settings.seed,
                tool_choice=request.tool_choice,
                input_tokens=response.usage.input_tokens,
                output_tokens=response.usage.output_tokens,
                cached_input_tokens=response.usage.cached_input_tokens,
                cache_write_tokens=response.usage.cache_write_tokens,
                cost_usd=response.cost_usd,
                latency_s=latency,
                finish_reason=response.finish_reason,
                requested_tools=[call.name for call in response.message.tool_calls],
                span_id=span_id,
            )
        )
        self.budget.charge(response)
        return response


def _parts(message: Message) -> list[dict[str, Any]]:
    if isinstance(message, ToolResultMessage):
        return [{"type": "tool_call_response", "id": message.tool_call_id,
                 "response": redact(message.content)}]  # fmt: skip
    parts: list[dict[str, Any]] = []
    if message.content:
        parts.append({"type": "text", "content": redact(message.content)})
    if isinstance(message, AssistantMessage):
        for call in message.tool_calls:
            arguments = redact(json.dumps(call.arguments, sort_keys=True))
            parts.append({"type": "tool_call", "id": call.id, "name": call.name,
                          "arguments": arguments})  # fmt: skip
    return parts


def _input_content(messages: Sequence[Message]) -> dict[str, AttributeValue]:
    """``gen_ai.system_instructions`` and ``gen_ai.input.messages`` (JSON, redacted)."""
    system = [p for m in messages if isinstance(m, SystemMessage) for p in _parts(m)]
    chat = [{"role": m.kind, "parts": _parts(m)} for m in messages
            if not isinstance(m, SystemMessage)]  # fmt: skip
    found: dict[str, AttributeValue] = {"gen_ai.input.messages": json.dumps(chat)}
    if system:
        found["gen_ai.system_instructions"] = json.dumps(system)
    return found


def _output_content(message: AssistantMessage) -> str:
    return json.dumps([{"role": "assistant", "parts": _parts(message)}])


def _server(model: Model) -> dict[str, AttributeValue]:
    """``server.address``/``server.port`` of a model reached over HTTP (fakes have none)."""
    base_url = getattr(model, "base_url", None)
    if not isinstance(base_url, str):
        return {}
    url = httpx.URL(base_url)
    return {
        "server.address": url.host,
        "server.port": url.port or (443 if url.scheme == "https" else 80),
    }


def record_error(span: Span, exc: BaseException) -> None:
    """``error.type`` and an ``exception`` event with the message redacted (never a secret)."""
    span.set_attribute("error.type", type(exc).__name__)
    span.add_event(
        "exception",
        {"exception.type": type(exc).__name__, "exception.message": redact(str(exc))[:500]},
    )


def span_id_hex(span: Span) -> str:
    """The span's id (16 hex), or "" for a non-recording span (tracing off)."""
    return f"{span.get_span_context().span_id:016x}" if span.is_recording() else ""
