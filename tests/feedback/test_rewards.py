"""Each part of a run's reward moves the way it should, on hand-made records."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from feedback_support import ANSWER, T0, feedback, run_record

from processors.daemons.vendor_enrichment.models import VendorChoice
from processors.feedback.rewards import RewardSpec, reward, trl_reward_funcs

SPEC = RewardSpec(answer_model=VendorChoice, expected_tools=("searchDirectory",))


def outcome(
    verdict: str = "pass", grounded: bool = True, scores: dict[str, float] | None = None
) -> dict[str, Any]:
    return {
        "verdict": verdict,
        "checks": [{"name": "tenant_scoped_ids", "passed": grounded, "detail": ""},
                   {"name": "no_secrets", "passed": True, "detail": ""}],
        "scores": scores if scores is not None else {"grounded": 0.9, "complete": 0.7},
    }  # fmt: skip


def record(**changes: Any) -> dict[str, Any]:
    return {**run_record("r1").to_avro(), **changes}


def test_a_good_run_scores_high_and_every_part_is_reported() -> None:
    got = reward(SPEC, record(), outcome(), [feedback("r1")])
    assert got.parts["format"] == got.parts["tools"] == got.parts["grounded"] == 1.0
    assert got.parts["guardrail"] == 1.0 and got.parts["human"] == 1.0
    assert abs(got.parts["judge"] - 0.8) < 1e-9  # type: ignore[operator]
    assert got.parts["correction"] is None  # nothing corrected: left out
    assert 0.9 < got.total <= 1.0


def test_an_answer_the_model_rejects_loses_the_format_part() -> None:
    bad = record(output_json=json.dumps({**ANSWER, "colour": "red"}))
    assert reward(SPEC, bad).parts["format"] == 0.0
    assert reward(SPEC, record(output_json="not json")).parts["format"] == 0.0
    assert reward(SPEC, bad).total < reward(SPEC, record()).total


def test_failed_or_missing_tool_calls_lower_the_tools_part() -> None:
    errored = record(tool_calls=[{**record()["tool_calls"][0], "error": "invalid_arguments: x"}])
    assert reward(SPEC, errored).parts["tools"] == 0.0
    spec = RewardSpec(answer_model=VendorChoice, expected_tools=("searchDirectory", "listAccounts"))
    assert reward(spec, record()).parts["tools"] == 0.5


def test_ungrounded_figures_held_results_and_low_judge_scores_lower_their_parts() -> None:
    good = reward(SPEC, record(), outcome())
    worse = reward(
        SPEC, record(), outcome("needs_review", grounded=False, scores={"grounded": 0.2})
    )
    assert (worse.parts["grounded"], worse.parts["guardrail"], worse.parts["judge"]) == (
        0.0,
        0.5,
        0.2,
    )
    assert reward(SPEC, record(), outcome("fail")).parts["guardrail"] == 0.0
    assert worse.total < good.total


def test_the_latest_human_label_counts_and_scores_average_in() -> None:
    up = feedback("r1", label="thumbs_up", at=T0)
    down = feedback("r1", label="thumbs_down", at=T0 + dt.timedelta(minutes=5))
    assert reward(SPEC, record(), None, [up, down]).parts["human"] == 0.0
    assert reward(SPEC, record(), None, [down, up]).parts["human"] == 0.0  # order given: no matter
    scored = {**feedback("r1", label=None), "scores": {"helpfulness": 0.5}}
    assert reward(SPEC, record(), None, [up, scored]).parts["human"] == 0.75


def test_the_correction_part_is_the_share_of_corrected_fields_the_answer_had() -> None:
    fix = {"account_category": "6100", "name": "Blue Bottle Coffee"}
    one_wrong = feedback("r1", decision="correct", label=None, correction=fix)
    got = reward(SPEC, record(), None, [one_wrong])
    assert got.parts["correction"] == 0.5 and got.parts["human"] == 0.0
    fixed = record(output_json=json.dumps({**ANSWER, "account_category": "6100"}))
    assert reward(SPEC, fixed, None, [one_wrong]).parts["correction"] == 1.0


def test_cost_and_latency_are_penalties_that_grow_with_the_budget_used() -> None:
    cheap = reward(SPEC, record(cost_usd=0.0, latency_ms=1000.0))
    dear = reward(SPEC, record(cost_usd=0.02, latency_ms=120_000.0))
    assert (dear.parts["cost"], dear.parts["latency"]) == (1.0, 1.0)
    assert dear.total < cheap.total


def test_trl_reward_funcs_score_new_completions_against_the_rows_feedback() -> None:
    funcs = {f.__name__: f for f in trl_reward_funcs(SPEC)}
    fix = feedback("r1", decision="correct", label=None, correction={"account_category": "6100"})
    rows = {"run_record": [json.dumps(record(), default=str)] * 2, "outcome": [None, None],
            "feedback": [json.dumps([fix], default=str)] * 2}  # fmt: skip
    right = [{"role": "assistant", "content": json.dumps({**ANSWER, "account_category": "6100"})}]
    wrong = [{"role": "assistant", "content": "I think it is coffee"}]
    kwargs = {"prompts": [[{"role": "user", "content": "x"}]] * 2, **rows}
    assert funcs["format_reward"](completions=[right, wrong], **kwargs) == [1.0, 0.0]
    assert funcs["correction_reward"](completions=[right, wrong], **kwargs) == [1.0, 0.0]
    totals = funcs["total_reward"](completions=[right, wrong], **kwargs)
    assert totals[0] > totals[1]  # type: ignore[operator]
