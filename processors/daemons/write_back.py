"""Side effects a daemon makes by code, once its result has passed the guardrails.

The agent decides *what* the record should say; writing it to the system of record waits for
the checks and the judge, so an output that fails (or is held for review) never reached the
books. The write goes through the same tools the agent has — as the event's principal, scoped
to its tenant, idempotent by the event id — and is traced and recorded like the agent's calls.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from opentelemetry.trace import Tracer
from pydantic import BaseModel

from processors.agent.record import RunRecord, ToolCallRecord, canonical_json, digest
from processors.errors import PermanentError, TransientError
from processors.tools.base import CallContext, Tool, ToolError
from processors.tools.evidence import ToolEvidence, flagged
from processors.untrusted import defenses
from processors.untrusted.redaction import redact

CallTool = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""(tool name, arguments) -> what the tool returned, as plain JSON data."""
WriteBack = Callable[[Mapping[str, Any], Any, CallTool], Awaitable[Any]]
"""(event, the checked output, a tool caller) -> the output to publish (e.g. with the id the
write returned)."""


def tool_caller(
    tools: Mapping[str, Tool],
    ctx: CallContext,
    record: RunRecord,
    tracer: Tracer,
    *,
    evidence: Sequence[ToolEvidence],
) -> CallTool:
    """Call the daemon's own (allowlisted, tenant-scoped) tools; each call lands in the record.

    A failed write is an error of the event, decided by the one error policy: retryable tool
    errors (timeouts, 5xx, 429) are transient, the rest (403, validation) permanent. A write
    in a run whose reads (``evidence``) the screen flagged is refused, permanently: a person
    reviews such a run before anything is written (the routing already holds it; this guard
    does not rely on that).
    """
    tainted = flagged(evidence) if defenses.current().screen else ()

    async def call(name: str, arguments: dict[str, Any]) -> Any:
        attributes = {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": f"write-back-{name}", "daemons.tool.phase": "write_back",
        }  # fmt: skip
        entry = ToolCallRecord(
            turn=record.totals.turns + 1,  # after the run's last turn
            call_id=f"write-back-{name}", name=name, arguments=redact(canonical_json(arguments)),
        )  # fmt: skip
        record.tool_calls.append(entry)
        with tracer.start_as_current_span(f"execute_tool {name}", attributes=attributes) as span:
            entry.span_id = f"{span.get_span_context().span_id:016x}"
            started = time.perf_counter()
            if tainted:
                entry.error_type = "refused"
                entry.error = (
                    "write refused: this run's tool results held instruction-like content "
                    f"({tainted[0]}); a person must review before anything is written"
                )
                span.set_attribute("error.type", "refused:flagged_evidence")
                raise PermanentError(entry.error)
            try:
                result = await tools[name].call(arguments, ctx)
                if isinstance(result, BaseModel):
                    result = result.model_dump(mode="json")
            except ToolError as exc:
                entry.error_type, entry.error, entry.status = "tool_error", str(exc), exc.status
                span.set_attribute("error.type", "tool_error")
                error = TransientError if exc.retryable else PermanentError
                raise error(f"write-back {name} failed: {exc}") from exc
            finally:
                entry.latency_s = time.perf_counter() - started
        entry.result_digest = digest(result)
        record.totals.tool_calls += 1
        return result

    return call
