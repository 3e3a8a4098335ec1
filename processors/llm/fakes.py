"""Fake models for tests — ours and users'. They never touch the network and cannot lie.

:class:`ScriptedModel` plays a fixed script: each step is the response to one call (or a
function of the request that returns it). An extra call raises :class:`UnexpectedModelCall`
at once; steps left over are reported by :meth:`ScriptedModel.assert_all_consumed` (or when
the ``with`` block ends). :class:`FunctionModel` lets a test play the model.

Both report usage (explicit, or estimated at ~4 characters per token) and cost
(``usd_per_1k_tokens``), so budgets can be tested. Helpers build the common responses::

    model = ScriptedModel([
        tool_calls(call("search_directory", {"name": "Acme"})),
        reply({"vendor": "Acme Corp"}),
    ])
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import json
from collections.abc import Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

from pydantic import BaseModel

from processors.llm.model import (
    AssistantMessage,
    ModelRequest,
    ModelResponse,
    ToolCall,
    Usage,
    messages_adapter,
)

Answer = ModelResponse | AssistantMessage | str
Step = Answer | Callable[[ModelRequest], Answer]
Responder = Callable[[ModelRequest], Answer | Awaitable[Answer]]


class UnexpectedModelCall(AssertionError):
    """A fake model was called more often than its script allows."""


class UnconsumedSteps(AssertionError):
    """A scripted model's steps were not all used: the code under test stopped too early."""


def call(name: str, arguments: dict[str, Any] | None = None, *, id: str | None = None) -> ToolCall:
    """One tool call; ids default to ``call_1``, ``call_2``, … in creation order."""
    return ToolCall(id=id or f"call_{next(_ids)}", name=name, arguments=arguments or {})


_ids = itertools.count(1)


def tool_calls(*calls: ToolCall, text: str | None = None) -> AssistantMessage:
    """An assistant turn that asks for ``calls`` (``text``: what it says alongside)."""
    return AssistantMessage(content=text, tool_calls=calls)


def reply(content: str | dict[str, Any] | BaseModel) -> AssistantMessage:
    """A final assistant message; dicts and pydantic models are sent as JSON text."""
    if isinstance(content, BaseModel):
        content = content.model_dump_json()
    elif isinstance(content, dict):
        content = json.dumps(content)
    return AssistantMessage(content=content)


def estimate_tokens(text: str) -> int:
    """A rough token count (~4 characters each), enough for budget tests."""
    return max(1, len(text) // 4) if text else 0


class _FakeModel:
    def __init__(self, name: str, usd_per_1k_tokens: float, latency_s: float) -> None:
        self._name = name
        self.usd_per_1k_tokens = usd_per_1k_tokens
        self.latency_s = latency_s
        self.requests: list[ModelRequest] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def provider(self) -> str:
        return self._name.split(":", 1)[0]

    async def _answer(self, request: ModelRequest, answer: Answer) -> ModelResponse:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if isinstance(answer, ModelResponse):
            return answer
        message = AssistantMessage(content=answer) if isinstance(answer, str) else answer
        prompt = messages_adapter.dump_json(list(request.messages)).decode()
        output = message.model_dump_json(include={"content", "tool_calls"})
        usage = Usage(input_tokens=estimate_tokens(prompt), output_tokens=estimate_tokens(output))
        tokens = usage.input_tokens + usage.output_tokens
        return ModelResponse(
            message=message,
            usage=usage,
            model=self.name.split(":", 1)[-1],
            finish_reason="tool_calls" if message.tool_calls else "stop",
            cost_usd=tokens * self.usd_per_1k_tokens / 1000.0,
            latency_s=self.latency_s,
        )


class ScriptedModel(_FakeModel):
    """A model that answers from a script and fails loudly when the script and calls differ.

    Each step is a :class:`ModelResponse` (returned as is), an :class:`AssistantMessage`, a
    string (a final text answer), or a function ``request -> one of those`` (to assert on the
    request or build a response from it). ``requests`` keeps every request received.
    """

    def __init__(
        self,
        steps: Iterable[Step],
        *,
        name: str = "scripted:model",
        usd_per_1k_tokens: float = 0.0,
        latency_s: float = 0.0,
    ) -> None:
        super().__init__(name, usd_per_1k_tokens, latency_s)
        self.steps = list(steps)

    @property
    def remaining(self) -> int:
        return len(self.steps) - len(self.requests)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        index = len(self.requests)
        self.requests.append(request)
        if index >= len(self.steps):
            last = request.messages[-1] if request.messages else None
            raise UnexpectedModelCall(
                f"{self.name}: call #{index + 1} but the script has {len(self.steps)} steps; "
                f"the last message was {last!r:.300}"
            )
        step = self.steps[index]
        answer = step(request) if callable(step) else step
        return await self._answer(request, answer)

    def assert_all_consumed(self) -> None:
        """Raise :class:`UnconsumedSteps` if the code under test stopped before the script."""
        if self.remaining > 0:
            raise UnconsumedSteps(
                f"{self.name}: {self.remaining} of {len(self.steps)} steps were never used"
            )

    def __enter__(self) -> ScriptedModel:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:  # don't hide the real failure behind this one
            self.assert_all_consumed()


class FunctionModel(_FakeModel):
    """A model played by a test: ``fn(request)`` (sync or async) returns the answer.

    ``max_calls`` (default 1000) guards against a loop that never stops calling.
    """

    def __init__(
        self,
        fn: Responder,
        *,
        name: str = "function:model",
        usd_per_1k_tokens: float = 0.0,
        latency_s: float = 0.0,
        max_calls: int = 1000,
    ) -> None:
        super().__init__(name, usd_per_1k_tokens, latency_s)
        self._fn = fn
        self.max_calls = max_calls

    async def complete(self, request: ModelRequest) -> ModelResponse:
        if len(self.requests) >= self.max_calls:
            raise UnexpectedModelCall(f"{self.name}: more than {self.max_calls} calls")
        self.requests.append(request)
        answer = self._fn(request)
        if inspect.isawaitable(answer):
            answer = await answer
        return await self._answer(request, answer)
