"""The :class:`Meter` every model call of a run goes through: span, timing, record, budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from opentelemetry.trace import SpanKind, Tracer

from processors.agent.limits import Budget
from processors.agent.record import ModelCallRecord, RunRecord
from processors.llm.model import Model, ModelRequest, ModelResponse

COST_ATTRIBUTE = "daemons.usage.cost_usd"


@dataclass(frozen=True, slots=True)
class Meter:
    """What one run reports to: its budget, its record, the tracer and the clock."""

    budget: Budget
    record: RunRecord
    tracer: Tracer
    clock: Callable[[], float]

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

        The span carries GenAI semantic-convention attributes, never prompt or completion text.
        """
        model_id = model.name.split(":", 1)[-1]
        attributes = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": model.provider,
            "gen_ai.request.model": model_id,
        }
        with self.tracer.start_as_current_span(
            f"chat {model_id}", kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            started = self.clock()
            response = await model.complete(request)
            latency = self.clock() - started
            span.set_attributes(
                {
                    "gen_ai.response.model": response.model,
                    "gen_ai.usage.input_tokens": response.usage.input_tokens,
                    "gen_ai.usage.output_tokens": response.usage.output_tokens,
                    "gen_ai.response.finish_reasons": [response.finish_reason or "unknown"],
                    COST_ATTRIBUTE: response.cost_usd,
                }
            )
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
                cost_usd=response.cost_usd,
                latency_s=latency,
                finish_reason=response.finish_reason,
                requested_tools=[call.name for call in response.message.tool_calls],
            )
        )
        self.budget.charge(response)
        return response
