"""The run's tool catalogue: allowlist, argument checks, error mapping and retry counting.

The runtime, not the model, enforces the allowlist: a call to a tool outside the catalogue is
refused and reported to the model as an error. Every outcome — result, error, refusal —
goes back as a :class:`ToolResultMessage` whose content is fenced as untrusted data, and is
appended to the run record (with a digest of the result, never the result itself).

A use case may give a tool a *view*: a pure function from its result to what the model reads
of it (the columns and rows the use case needs). Every prompt token costs time on a CPU; the
record's digest, the guardrails' evidence and the judge still see the whole result.

Every call that ran is kept as :class:`~processors.tools.evidence.ToolEvidence` (``evidence``:
what the tool really returned, with the arguments it ran with), screened by the ``screen`` the
daemon gives (the guardrails' screen for instruction-like content; its flags go on the
``execute_tool`` span and into the evidence). The run result carries it to the checks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from processors.agent import schema_check
from processors.agent.chat import Meter, span_id_hex
from processors.agent.record import (
    ToolCallRecord,
    ToolRefusal,
    canonical_json,
    digest,
)
from processors.agent.tabular import for_model
from processors.errors import ConfigError, ToolRetriesExhausted, ToolUnavailable
from processors.llm.model import ToolCall, ToolResultMessage, ToolSpec
from processors.tools.base import CallContext, Tool, ToolError
from processors.tools.evidence import Screen, ToolEvidence
from processors.tools.scoped import arguments_run
from processors.untrusted.fencing import untrusted
from processors.untrusted.redaction import redact

FORBIDDEN_STATUSES = frozenset({401, 403})
View = Callable[[Any], Any]
"""A tool result -> the part of it the model reads (pure; the result itself is unchanged)."""


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What one requested call produced: the message for the model and its record."""

    message: ToolResultMessage
    record: ToolCallRecord
    shown: str = ""
    """What the model reads of the result before it is fenced (its view, as text)."""

    @property
    def failed(self) -> bool:
        return self.record.error_type is not None


class ToolBox:
    """The tools one run may use, plus the per-run state (failures, forbidden tools)."""

    def __init__(
        self,
        tools: Sequence[Tool],
        *,
        meter: Meter,
        max_retries: int,
        views: Mapping[str, View] | None = None,
        screen: Screen | None = None,
    ) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self._screen = screen
        self.evidence: list[ToolEvidence] = []  # every call that ran, in order
        self._views = dict(views or {})
        if len(self._tools) != len(tools):
            raise ConfigError("two tools share a name in the agent's catalogue")
        self.specs = tuple(
            ToolSpec(name=t.name, description=t.description, parameters=t.input_schema)
            for t in tools
        )
        self._record, self._tracer, self._clock = meter.record, meter.tracer, meter.clock
        self._capture = meter.capture_content
        self._max_retries = max_retries
        self._failures: Counter[str] = Counter()
        self._forbidden: set[str] = set()

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    async def execute(
        self, call: ToolCall, ctx: CallContext, *, turn: int, plan_step: int | None = None
    ) -> ToolOutcome:
        """Check and run one call. Raises only when the tool's retry allowance is used up."""
        if call.name not in self._tools:
            return self.refuse(
                call,
                turn=turn,
                refusal="not_allowed",
                message=f"tool {call.name!r} is not available to this agent",
            )
        if call.name in self._forbidden:
            return self.refuse(
                call,
                turn=turn,
                refusal="forbidden",
                message=f"tool {call.name!r} is forbidden for this principal",
            )
        entry = ToolCallRecord(
            turn=turn,
            call_id=call.id,
            name=call.name,
            arguments=redact(canonical_json(call.arguments)),
            plan_step=plan_step,
        )
        with self._tracer.start_as_current_span(
            f"execute_tool {call.name}", kind=SpanKind.INTERNAL, attributes=_attributes(call)
        ) as span:
            started = self._clock()
            payload, retryable = await self._call(self._tools[call.name], call, ctx, entry)
            entry.latency_s = self._clock() - started
            if entry.error_type is not None:
                span.set_attribute("error.type", entry.error_type)
            if entry.status is not None:
                span.set_attribute("daemons.tool.status", entry.status)
            if self._capture:
                span.set_attributes(
                    {
                        "gen_ai.tool.call.arguments": entry.arguments,
                        "gen_ai.tool.call.result": redact(canonical_json(payload)),
                    }
                )
            entry.span_id = span_id_hex(span)
        self._record.tool_calls.append(entry)
        if entry.error_type not in (None, "forbidden"):
            self._count_failure(call.name, retryable)
        view = self._views.get(call.name)
        if entry.error_type is None and view is not None:
            payload = view(payload)
        shown = for_model(payload)
        message = _message(call, shown, is_error=entry.error_type is not None)
        return ToolOutcome(message, entry, shown)

    def refuse(
        self, call: ToolCall, *, turn: int, refusal: ToolRefusal, message: str
    ) -> ToolOutcome:
        """Do not run ``call``; tell the model why and record the refusal."""
        entry = ToolCallRecord(
            turn=turn,
            call_id=call.id,
            name=call.name,
            arguments=redact(canonical_json(call.arguments)),
            error_type="refused",
            error=message,
            refused=refusal,
        )
        with self._tracer.start_as_current_span(
            f"execute_tool {call.name}", kind=SpanKind.INTERNAL, attributes=_attributes(call)
        ) as span:
            span.set_attribute("error.type", f"refused:{refusal}")
            entry.span_id = span_id_hex(span)
        self._record.tool_calls.append(entry)
        shown = for_model({"error": "refused", "reason": refusal, "message": message})
        return ToolOutcome(_message(call, shown, is_error=True), entry, shown)

    async def _call(
        self, tool: Tool, call: ToolCall, ctx: CallContext, entry: ToolCallRecord
    ) -> tuple[Any, bool]:
        if call.invalid_arguments is not None:  # unreadable: the model is told, not run
            problems = [call.invalid_arguments]
        else:
            problems = schema_check.check(call.arguments, tool.input_schema)
        if problems:
            entry.error_type, entry.error = "invalid_arguments", redact("; ".join(problems))
            return {"error": "invalid_arguments", "problems": problems}, False
        ran_with = arguments_run(tool, call.arguments, ctx)
        try:
            result = await tool.call(call.arguments, ctx)
        except ToolError as exc:
            flags = self._screened(str(exc), f"tool:{call.name} error")
            self.evidence.append(ToolEvidence(call.name, ran_with, None, str(exc), flags))
            entry.status, entry.error = exc.status, redact(str(exc))
            if exc.status in FORBIDDEN_STATUSES:
                self._forbidden.add(call.name)
                entry.error_type = "forbidden"
                message = "forbidden: the principal may not use this tool; do not call it again"
                return {"error": "forbidden", "status": exc.status, "message": message}, False
            entry.error_type = "tool_error"
            return {
                "error": "tool_error",
                "status": exc.status,
                "retryable": exc.retryable,
                "message": entry.error,
            }, exc.retryable
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        flags = self._screened(result, f"tool:{call.name}")
        self.evidence.append(ToolEvidence(call.name, ran_with, result, None, flags))
        entry.result_digest = digest(result)
        return result, False

    def _screened(self, value: Any, where: str) -> tuple[str, ...]:
        return self._screen(value, where) if self._screen is not None else ()

    def _count_failure(self, name: str, retryable: bool) -> None:
        self._failures[name] += 1
        if self._failures[name] <= self._max_retries:
            return
        message = f"tool {name!r} failed {self._failures[name]} times in this run"
        error = ToolUnavailable if retryable else ToolRetriesExhausted
        raise error(message, run_id=self._record.run_id)


def _attributes(call: ToolCall) -> dict[str, str]:
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": call.name,
        "gen_ai.tool.call.id": call.id,
        "gen_ai.tool.type": "function",
    }


def _message(call: ToolCall, shown: str, *, is_error: bool) -> ToolResultMessage:
    text = untrusted(shown, source=f"tool:{call.name}", id=call.id)
    return ToolResultMessage(tool_call_id=call.id, name=call.name, content=text, is_error=is_error)
