"""Who may let a result into memory: the guardrails' pass, or a reviewer's approval, and
never a run where something was flagged as an instruction."""

from __future__ import annotations

from typing import Any

import pytest

from processors.errors import MemoryWriteRefused
from processors.memory.writer import approval


def _outcome(
    verdict: str = "pass", *, injection: bool = True, other: bool = True
) -> dict[str, Any]:
    return {
        "run_id": "r-1",
        "tenant_id": "t1",
        "verdict": verdict,
        "checks": [
            {"name": "tenant_ids", "passed": other},
            {"name": "prompt_injection", "passed": injection},
        ],
    }


def _feedback(decision: str = "approve", **changes: str) -> dict[str, Any]:
    return {"run_id": "r-1", "tenant_id": "t1", "principal_id": "alice", "decision": decision,
            **changes}  # fmt: skip


def test_a_pass_is_approved_by_the_guardrails() -> None:
    assert approval(_outcome()) == "guardrails"


def test_a_held_result_needs_a_reviewers_approval() -> None:
    with pytest.raises(MemoryWriteRefused) as refused:
        approval(_outcome("needs_review"))
    assert refused.value.reason == "not_passed"
    assert approval(_outcome("needs_review"), _feedback()) == "reviewer:alice"
    with pytest.raises(MemoryWriteRefused, match="did not approve"):
        approval(_outcome("needs_review"), _feedback("reject"))


def test_a_flagged_run_is_refused_even_when_a_reviewer_approved() -> None:
    for feedback in (None, _feedback()):
        with pytest.raises(MemoryWriteRefused) as refused:
            approval(_outcome("needs_review", injection=False), feedback)
        assert refused.value.reason == "flagged"


def test_a_pass_with_a_failed_check_or_anothers_feedback_is_refused() -> None:
    with pytest.raises(MemoryWriteRefused):
        approval(_outcome(other=False))
    for changes in ({"run_id": "r-2"}, {"tenant_id": "t2"}):
        with pytest.raises(MemoryWriteRefused) as refused:
            approval(_outcome("needs_review"), _feedback(**changes))
        assert refused.value.reason == "mismatch"
