"""What the deterministic checks force before the judge is asked."""

from __future__ import annotations

import datetime as dt
import json

from processors.guardrails.checks import CheckResult
from processors.guardrails.routing import Decision, after_checks, held_result, output_id

OK = CheckResult("numeric_grounding", True, "fine")
INJECTION = CheckResult("prompt_injection", False, "event:question: 'ignore previous'")
GROUNDING = CheckResult("numeric_grounding", False, "amounts not in tool results: [7240]")


def test_all_checks_passed_leaves_the_decision_to_the_judge() -> None:
    assert after_checks([OK, CheckResult("no_secrets", True)]) is None


def test_a_failed_check_fails_the_run_with_its_reasons() -> None:
    decision = after_checks([OK, GROUNDING, INJECTION])
    assert decision is not None and decision.verdict == "fail"
    assert decision.reasons == [
        "numeric_grounding: amounts not in tool results: [7240]",
        "prompt_injection: event:question: 'ignore previous'",
    ]


def test_a_prompt_injection_flag_alone_needs_review() -> None:
    decision = after_checks([OK, INJECTION])
    assert decision is not None and decision.verdict == "needs_review"
    assert decision.judge_model is None


def test_a_held_result_keeps_the_output_id_it_would_have_had() -> None:
    event = {"event_id": "evt-7", "tenant_id": "t-a", "principal_id": "u-a"}
    value = {**event, "output_id": "", "occurred_at": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)}
    held = held_result(
        event=event, daemon="d", target_topic="questions.answered", value=value,
        decision=Decision("needs_review", ["r"]), run_id="run-7", trace_id="t" * 32,
    )  # fmt: skip
    assert held["output_id"] == output_id("evt-7", "questions.answered") != output_id("evt-7", "x")
    assert json.loads(held["output_json"]) == {
        **event, "output_id": held["output_id"], "occurred_at": "2026-01-02T00:00:00+00:00",
    }  # fmt: skip
