"""From check results and the judge's verdict to one routing decision, and the held record.

Order (cheap first): the deterministic checks; if any failed the run is ``fail`` and the judge
is skipped — except when the only failed check is ``prompt_injection`` (instruction-like text
seen in the inputs), which a person should look at: ``needs_review``. Otherwise the judge (when
configured) decides. ``pass`` goes to the output topic, ``fail`` is withheld, ``needs_review``
goes to ``guardrails.review`` as a :func:`held_result` until ``daemons review`` decides.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from processors.guardrails.checks import CheckResult
from processors.guardrails.judge import JudgeVerdict, Verdict
from processors.runtime.daemon import output_id
from processors.serde.json_codec import to_json

REVIEW_TOPIC = "guardrails.review"
INJECTION_CHECK = "prompt_injection"


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reasons: list[str]
    scores: dict[str, float] = field(default_factory=dict)
    judge_model: str | None = None
    judge_error: str | None = None


def after_checks(checks: Sequence[CheckResult]) -> Decision | None:
    """The decision the checks force, or None when they all passed (the judge decides)."""
    failed = [c for c in checks if not c.passed]
    if not failed:
        return None
    reasons = [f"{c.name}: {c.detail}" for c in failed]
    if all(c.name == INJECTION_CHECK for c in failed):
        return Decision("needs_review", reasons)
    return Decision("fail", reasons)


def from_judge(verdict: JudgeVerdict) -> Decision:
    return Decision(
        verdict.verdict,
        list(verdict.reasons),
        dict(verdict.scores),
        verdict.judge_model,
        verdict.error,
    )


def held_result(
    *,
    event: Mapping[str, Any],
    daemon: str,
    target_topic: str,
    value: Mapping[str, Any],
    decision: Decision,
    run_id: str,
    trace_id: str,
) -> dict[str, Any]:
    """A ``HeldResult`` datum: the output value (its output id filled in) as JSON text. The id
    is the runtime's (:func:`~processors.runtime.daemon.output_id`): a held result keeps the id
    it would have had if it had passed, so downstream deduplication sees one result either
    way."""
    held = dict(value)
    held["output_id"] = held.get("output_id") or output_id(str(event["event_id"]), target_topic)
    return {
        "event_id": event["event_id"],
        "tenant_id": event["tenant_id"],
        "principal_id": event["principal_id"],
        "occurred_at": dt.datetime.now(dt.UTC),
        "run_id": run_id,
        "trace_id": trace_id,
        "daemon": daemon,
        "target_topic": target_topic,
        "output_id": held["output_id"],
        "output_json": json.dumps(to_json(held), sort_keys=True),
        "reasons": [r[:500] for r in decision.reasons],
        "scores": decision.scores,
        "judge_model": decision.judge_model,
    }
