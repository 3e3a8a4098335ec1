"""The run record: every step of one agent run, as flat JSON-serializable pydantic models.

It becomes the decision trace (published as Avro later), so it holds ids, versions, counts
and digests — never a credential and never a tool's raw result (only its SHA-256 digest of
the canonical JSON). Free text that may echo a secret (tool error messages, arguments) goes
through :func:`redact` first.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from processors.untrusted.redaction import redact

if TYPE_CHECKING:
    from collections.abc import Sequence

    from processors.agent.limits import Budget
    from processors.llm.model import Message, ToolSpec
    from processors.tools.base import CallContext


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces, so equal data has equal bytes (and digest)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(value: Any) -> str:
    """``sha256:<hex>`` of the canonical JSON of ``value``."""
    return "sha256:" + hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


class PlanStep(BaseModel):
    """One planned step: which tool to call and why."""

    tool: str
    why: str


class Plan(BaseModel):
    """The planner's answer: tool steps in the order they should run."""

    steps: list[PlanStep] = Field(max_length=20)


class PlanRecord(BaseModel):
    attempt: int  # 1 = first plan, 2 = the one re-plan
    reason: str | None = None  # why this (re-)plan was made
    steps: list[PlanStep] = []
    accepted: bool = True
    rejection: str | None = None  # why the plan was unusable (e.g. unknown tool)


class ModelCallRecord(BaseModel):
    purpose: Literal["plan", "execute"]
    turn: int  # executor turn (0 for planner calls before the first turn)
    model: str
    provider: str
    prompt_version: str
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    tool_choice: str = "auto"
    input_tokens: int = 0  # the whole prompt, cached parts included
    output_tokens: int = 0
    cached_input_tokens: int = 0  # part of input_tokens read from the provider's cache
    cache_write_tokens: int = 0  # part of input_tokens written to it (Anthropic)
    cost_usd: float = 0.0
    latency_s: float = 0.0
    finish_reason: str | None = None
    requested_tools: list[str] = []
    span_id: str = ""  # the chat span (16 hex), when traced


ToolRefusal = Literal["not_allowed", "forbidden", "deviation"]


class ToolCallRecord(BaseModel):
    turn: int
    call_id: str
    name: str
    arguments: str  # canonical JSON, redacted
    result_digest: str | None = None
    latency_s: float = 0.0
    error_type: str | None = None  # tool_error | invalid_arguments | forbidden | refused
    error: str | None = None  # redacted message
    status: int | None = None
    refused: ToolRefusal | None = None
    plan_step: int | None = None  # index of the planned step this call carried out
    span_id: str = ""  # the execute_tool span (16 hex), when traced


class CorrectionRecord(BaseModel):
    turn: int
    error: str


class DeviationRecord(BaseModel):
    turn: int
    expected: str | None  # the next planned tool (None: the plan was finished)
    actual: str
    reason: str
    allowed: bool


class Totals(BaseModel):
    turns: int = 0
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0
    tool_calls: int = 0
    tool_errors: int = 0
    refused_calls: int = 0
    forbidden_calls: int = 0
    corrections: int = 0
    deviations: int = 0
    replans: int = 0
    wall_s: float = 0.0


class RunRecord(BaseModel):
    """Everything one run did, in order within each list."""

    run_id: str
    daemon: str
    tenant_id: str
    principal_id: str
    event_id: str
    model: str
    prompt_version: str  # hash over the versions of every prompt in ``prompts``
    prompts: dict[str, str]  # prompt name -> version
    started_at: str  # ISO 8601, UTC
    trace_id: str = ""  # W3C trace id of the invoke_agent span (32 hex), when traced
    span_id: str = ""
    parameters: dict[str, Any] = {}  # executor settings in effect (temperature, max_tokens, …)
    planner_model: str | None = None
    plans: list[PlanRecord] = []
    model_calls: list[ModelCallRecord] = []
    tool_calls: list[ToolCallRecord] = []
    corrections: list[CorrectionRecord] = []
    deviations: list[DeviationRecord] = []
    final_response: str | None = None  # canonical JSON of the validated output
    # what the executor model saw and answered (see :func:`transcript_json`), for datasets
    transcript: str | None = None
    totals: Totals = Totals()
    outcome: Literal["running", "completed", "failed"] = "running"
    error_type: str | None = None
    error: str | None = None

    @classmethod
    def open(
        cls, *, daemon: str, model: str, ctx: CallContext, prompts: dict[str, str]
    ) -> RunRecord:
        """A fresh record for the run ``ctx.run_id``; only ids are taken from ``ctx``."""
        return cls(
            run_id=ctx.run_id,
            daemon=daemon,
            tenant_id=ctx.tenant_id,
            principal_id=ctx.principal_id,
            event_id=ctx.event_id,
            model=model,
            prompt_version=hashlib.sha256("".join(sorted(prompts.values())).encode()).hexdigest()[
                :12
            ],
            prompts=prompts,
            started_at=datetime.now(UTC).isoformat(),
        )

    def close(self, *, budget: Budget, wall_s: float, error: BaseException | None) -> None:
        """Fill the totals and the outcome once the run has ended (``error``: how it failed)."""
        calls = self.tool_calls
        self.totals = Totals(
            turns=budget.turns,
            model_calls=len(self.model_calls),
            input_tokens=budget.usage.input_tokens,
            output_tokens=budget.usage.output_tokens,
            cached_input_tokens=budget.usage.cached_input_tokens,
            cache_write_tokens=budget.usage.cache_write_tokens,
            cost_usd=budget.cost_usd,
            tool_calls=len(calls),
            tool_errors=sum(c.error_type is not None and c.refused is None for c in calls),
            refused_calls=sum(c.refused is not None for c in calls),
            forbidden_calls=sum(
                c.error_type == "forbidden" or c.refused == "forbidden" for c in calls
            ),
            corrections=len(self.corrections),
            deviations=len(self.deviations),
            replans=max(0, len(self.plans) - 1),
            wall_s=wall_s,
        )
        self.outcome = "completed" if error is None else "failed"
        self.error_type = None if error is None else type(error).__name__
        self.error = None if error is None else redact(str(error))[:500]

    def to_avro(self) -> dict[str, Any]:
        """This record as a ``schemas/run_record.avsc`` datum (the published decision trace)."""
        return {
            "event_id": self.event_id,
            "tenant_id": self.tenant_id,
            "principal_id": self.principal_id,
            "occurred_at": datetime.fromisoformat(self.started_at),
            "run_id": self.run_id,
            "daemon": self.daemon,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "prompt_version": self.prompt_version,
            "prompts_json": canonical_json(self.prompts),
            "parameters_json": canonical_json(self.parameters),
            "planner_model": self.planner_model,
            "model": self.model,
            "outcome": "completed" if self.outcome == "completed" else "failed",
            "error_type": self.error_type,
            "plan_json": canonical_json([p.model_dump() for p in self.plans])
            if self.plans
            else None,
            "model_calls": [_model_call_datum(call) for call in self.model_calls],
            "tool_calls": [_tool_call_datum(call) for call in self.tool_calls],
            "output_json": None if self.final_response is None else redact(self.final_response),
            "input_tokens": self.totals.input_tokens,
            "output_tokens": self.totals.output_tokens,
            "cached_input_tokens": self.totals.cached_input_tokens,
            "cache_write_tokens": self.totals.cache_write_tokens,
            "cost_usd": self.totals.cost_usd,
            "latency_ms": self.totals.wall_s * 1000.0,
            "transcript_json": self.transcript,
        }


MAX_TRANSCRIPT_BYTES = 256 * 1024
"""A transcript larger than this is left out of the run record (``transcript_json`` null):
with the rest of the record it must stay well under Kafka's default 1 MB message limit, or
the run record itself would be dead-lettered (``Handling.fit``)."""


def transcript_json(messages: Sequence[Message], tools: Sequence[ToolSpec]) -> str | None:
    """The conversation the executor model had (its messages, ending with its final answer,
    tool results as it read them) and the tools it was offered, as JSON with every secret
    redacted — what a fine-tuning dataset rebuilds the run from. None when over
    :data:`MAX_TRANSCRIPT_BYTES`."""
    text = canonical_json({
        "messages": [m.model_dump(mode="json", exclude_none=True) for m in messages],
        "tools": [t.model_dump(mode="json") for t in tools],
    })  # fmt: skip
    text = redact(text)
    return text if len(text.encode("utf-8")) <= MAX_TRANSCRIPT_BYTES else None


def _model_call_datum(call: ModelCallRecord) -> dict[str, Any]:
    parameters = {
        "purpose": call.purpose,
        "temperature": call.temperature,
        "max_tokens": call.max_tokens,
        "seed": call.seed,
        "tool_choice": call.tool_choice,
    }
    return {
        "model": call.model,
        "prompt_version": call.prompt_version,
        "parameters_json": canonical_json(parameters),
        "input_tokens": call.input_tokens,
        "output_tokens": call.output_tokens,
        "cached_input_tokens": call.cached_input_tokens,
        "cache_write_tokens": call.cache_write_tokens,
        "cost_usd": call.cost_usd,
        "latency_ms": call.latency_s * 1000.0,
        "finish_reason": call.finish_reason,
        "purpose": call.purpose,
        "span_id": call.span_id,
    }


def _tool_call_datum(call: ToolCallRecord) -> dict[str, Any]:
    error = None if call.error_type is None else f"{call.error_type}: {call.error or ''}".strip()
    return {
        "call_id": call.call_id,
        "name": call.name,
        "arguments_json": call.arguments,
        "result_digest": call.result_digest,
        "latency_ms": call.latency_s * 1000.0,
        "error": error,
        "status": call.status,
        "span_id": call.span_id,
    }
