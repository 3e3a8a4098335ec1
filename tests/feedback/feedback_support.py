"""Hand-made run records, outcomes and feedback for the feedback tests."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from processors.agent.record import (
    ModelCallRecord,
    RunRecord,
    ToolCallRecord,
    Totals,
    transcript_json,
)
from processors.llm.model import (
    AssistantMessage,
    SystemMessage,
    ToolCall,
    ToolResultMessage,
    ToolSpec,
    UserMessage,
)

DAEMON = "vendor-enrichment"
T0 = dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC)
ANSWER = {
    "business_id": "biz-7",
    "existing_vendor_id": None,
    "name": "Blue Bottle Coffee",
    "account_category": "6600",
}
SEARCH = ToolSpec(
    name="searchDirectory",
    description="Search the business directory.",
    parameters={"type": "object", "properties": {"query": {"type": "string"}},
                "required": ["query"]},
)  # fmt: skip


def transcript(answer: dict[str, Any] | None = None, descriptor: str = "BLUE BOTTLE 1234") -> str:
    """A run's conversation: instructions, the task, one tool call and its result, the answer."""
    final = json.dumps(answer or ANSWER)
    text = transcript_json(
        [
            SystemMessage(content="You enrich vendors."),
            UserMessage(content=f"Raw descriptor: {descriptor}"),
            AssistantMessage(
                tool_calls=(
                    ToolCall(id="c1", name="searchDirectory", arguments={"query": descriptor}),
                )
            ),
            ToolResultMessage(
                tool_call_id="c1",
                name="searchDirectory",
                content='{"results": [{"business_id": "biz-7"}]}',
            ),
            AssistantMessage(content=final),
        ],
        [SEARCH],
    )
    assert text is not None
    return text


def run_record(
    run_id: str,
    *,
    tenant: str = "acme",
    daemon: str = DAEMON,
    at: dt.datetime = T0,
    answer: dict[str, Any] | None = None,
    descriptor: str = "BLUE BOTTLE 1234",
    tool_error: str | None = None,
    cost_usd: float = 0.0,
    wall_s: float = 2.0,
    outcome: str = "completed",
) -> RunRecord:
    """A completed run of ``daemon`` for ``tenant`` that answered ``answer``."""
    final = answer if answer is not None else ANSWER
    return RunRecord(
        run_id=run_id, daemon=daemon, tenant_id=tenant, principal_id="u-1",
        event_id=f"ev-{run_id}", model="local:test", prompt_version="abc", prompts={},
        started_at=at.isoformat(), trace_id="0" * 31 + "1",
        model_calls=[ModelCallRecord(purpose="execute", turn=1, model="local:test",
                                     provider="local", prompt_version="abc", cost_usd=cost_usd)],
        tool_calls=[ToolCallRecord(turn=1, call_id="c1", name="searchDirectory",
                                   arguments=json.dumps({"query": descriptor}),
                                   error_type=tool_error)],
        final_response=json.dumps(final, sort_keys=True),
        transcript=transcript(final, descriptor),
        totals=Totals(cost_usd=cost_usd, wall_s=wall_s),
        outcome=outcome,  # type: ignore[arg-type]
    )  # fmt: skip


def feedback(
    run_id: str,
    *,
    tenant: str = "acme",
    decision: str = "rate",
    label: str | None = "thumbs_up",
    correction: dict[str, Any] | str | None = None,
    at: dt.datetime | None = None,
    event_id: str | None = None,
    source: str = "downstream_system",
) -> dict[str, Any]:
    """A Feedback datum as a downstream system sends it."""
    corrected = (
        correction if isinstance(correction, str) or correction is None else json.dumps(correction)
    )
    return {
        "event_id": event_id or f"fb-{run_id}-{decision}",
        "tenant_id": tenant,
        "principal_id": "user-9",
        "occurred_at": at or T0 + dt.timedelta(hours=1),
        "run_id": run_id,
        "daemon": "",
        "decision": decision,
        "comment": None,
        "corrected_output_json": corrected,
        "label": label,
        "scores": {},
        "source": source,
        "source_system": "ledger-ui",
    }
