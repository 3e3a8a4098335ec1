"""Rewards: pure functions over one run — its run record (the ``daemons.runs`` datum), its
guardrail outcome (the ``guardrails.outcomes`` datum) and its feedback (``daemons.feedback``
datums) — decomposed so each part can be read, tested and reused:

=====================  ====================================================================
``format``             the final answer parses and validates against the answer model (0/1)
``tools``              the expected tools were called, and the calls made had valid
                       arguments and were not refused (product of the two shares)
``grounded``           the share of grounding checks (figures and ids traced to tool
                       results) that passed
``guardrail``          pass 1, needs_review 0.5, fail 0
``judge``              the mean of the judge's scores
``human``              the latest label or decision: thumbs up / approve 1, thumbs down /
                       reject / a correction 0; named scores averaged in
``correction``         the share of corrected fields the answer already had right
``cost`` / ``latency`` penalties: the share of the spec's budget used, capped at 1
=====================  ====================================================================

A part with nothing to go on (no outcome, no feedback, no judge) is ``None`` and left out:
:func:`reward`'s total is the weighted mean of the parts present minus the weighted
penalties. :func:`trl_reward_funcs` wraps the same parts for TRL's ``GRPOTrainer``
(``reward_funcs``), scoring a new completion against the row's run record and feedback.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

Datum = Mapping[str, Any]
GROUNDING_CHECKS = frozenset({
    "numeric_grounding", "figures_traced", "answer_numbers", "answer_rests_on_data",
    "tenant_scoped_ids", "event_text_confirmed", "business_matches",
})  # fmt: skip
"""The checks (``guardrails.outcomes`` ``checks[].name``) that say an output's figures and
ids were found in what the tools returned."""
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "format": 1.0, "tools": 1.0, "grounded": 1.0, "guardrail": 1.0, "judge": 1.0,
    "human": 2.0, "correction": 2.0, "cost": 0.1, "latency": 0.1,
}  # fmt: skip
PENALTIES = ("cost", "latency")
_VERDICT = {"pass": 1.0, "needs_review": 0.5, "fail": 0.0}


@dataclass(frozen=True)
class RewardSpec:
    """What one daemon is rewarded for: the model its answers validate against, the tools a
    good run calls, its grounding checks, the weights and the budgets."""

    answer_model: type[BaseModel] | None = None
    expected_tools: tuple[str, ...] = ()
    grounding_checks: frozenset[str] = GROUNDING_CHECKS
    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    cost_budget_usd: float = 0.01
    latency_budget_ms: float = 60_000.0


@dataclass(frozen=True)
class Reward:
    parts: dict[str, float | None]  # None: nothing to go on, left out of the total
    total: float


# ---- the parts --------------------------------------------------------------------------


def answer_fields(answer_json: str | None) -> dict[str, Any] | None:
    """The answer as a JSON object, or None when it is none."""
    if answer_json is None:
        return None
    try:
        parsed = json.loads(answer_json)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def format_valid(answer_json: str | None, model: type[BaseModel] | None) -> float:
    """1 when the answer is a JSON object (that ``model`` accepts, when given), else 0."""
    fields = answer_fields(answer_json)
    if fields is None:
        return 0.0
    if model is None:
        return 1.0
    try:
        model.model_validate(fields)
    except ValidationError:
        return 0.0
    return 1.0


def tool_use(tool_calls: Sequence[Datum], expected: Sequence[str]) -> float:
    """(share of the expected tools called without error) times (share of calls without error:
    invalid arguments, refusals and tool errors all count against it); 1 with no calls and
    nothing expected."""
    ok = [c for c in tool_calls if not c.get("error")]
    valid = len(ok) / len(tool_calls) if tool_calls else 1.0
    called = {str(c["name"]) for c in ok}
    covered = sum(t in called for t in expected) / len(expected) if expected else 1.0
    return covered * valid


def grounded(outcome: Datum | None, names: frozenset[str] = GROUNDING_CHECKS) -> float | None:
    """The share of the outcome's grounding checks that passed (None: none ran)."""
    if outcome is None:
        return None
    ran = [c for c in outcome.get("checks") or () if c.get("name") in names]
    return sum(bool(c.get("passed")) for c in ran) / len(ran) if ran else None


def guardrail(outcome: Datum | None) -> float | None:
    return None if outcome is None else _VERDICT.get(str(outcome.get("verdict")))


def judge(outcome: Datum | None) -> float | None:
    scores = dict((outcome or {}).get("scores") or {})
    return sum(scores.values()) / len(scores) if scores else None


def human(feedback: Sequence[Datum]) -> float | None:
    """The latest label or decision (1 up/approve, 0 down/reject/correct), averaged with the
    latest feedback's named scores; None without feedback that says either."""
    latest: float | None = None
    scores: dict[str, float] = {}
    for item in sorted(feedback, key=_when):
        label, decision = item.get("label"), item.get("decision")
        if label is not None:
            latest = 1.0 if label == "thumbs_up" else 0.0
        elif decision in ("approve", "reject", "correct"):
            latest = 1.0 if decision == "approve" else 0.0
        scores.update(item.get("scores") or {})
    values = ([latest] if latest is not None else []) + list(scores.values())
    return sum(values) / len(values) if values else None


def correction(answer_json: str | None, feedback: Sequence[Datum]) -> float | None:
    """The share of the latest correction's fields the answer already had (1: nothing to
    correct after all; 0: every corrected field was wrong); None without a correction."""
    fix = latest_correction(feedback)
    if fix is None:
        return None
    answer = answer_fields(answer_json) or {}
    return sum(answer.get(k, _MISSING) == v for k, v in fix.items()) / len(fix) if fix else None


def cost_penalty(record: Datum, budget_usd: float) -> float:
    return min(1.0, float(record.get("cost_usd") or 0.0) / budget_usd) if budget_usd > 0 else 0.0


def latency_penalty(record: Datum, budget_ms: float) -> float:
    return min(1.0, float(record.get("latency_ms") or 0.0) / budget_ms) if budget_ms > 0 else 0.0


def latest_correction(feedback: Sequence[Datum]) -> dict[str, Any] | None:
    """The corrected fields of the latest ``correct`` feedback."""
    fixes = [
        f for f in feedback if f.get("decision") == "correct" and f.get("corrected_output_json")
    ]
    if not fixes:
        return None
    return answer_fields(max(fixes, key=_when)["corrected_output_json"])


# ---- the whole ---------------------------------------------------------------------------


def parts(
    spec: RewardSpec,
    record: Datum,
    outcome: Datum | None,
    feedback: Sequence[Datum],
    answer_json: str | None = None,
) -> dict[str, float | None]:
    """Every part for one run; ``answer_json`` scores another answer than the record's
    (a new completion for the same input) — the parts that depend on the answer use it."""
    answer = record.get("output_json") if answer_json is None else answer_json
    failed = record.get("outcome") == "failed"
    return {
        "format": 0.0
        if failed and answer_json is None
        else format_valid(answer, spec.answer_model),
        "tools": tool_use(record.get("tool_calls") or (), spec.expected_tools),
        "grounded": grounded(outcome, spec.grounding_checks),
        "guardrail": guardrail(outcome),
        "judge": judge(outcome),
        "human": human(feedback) if answer_json is None else None,
        "correction": correction(answer, feedback),
        "cost": cost_penalty(record, spec.cost_budget_usd),
        "latency": latency_penalty(record, spec.latency_budget_ms),
    }


def total(values: Mapping[str, float | None], weights: Mapping[str, float]) -> float:
    """The weighted mean of the parts present, minus the weighted penalties."""
    present = {k: v for k, v in values.items() if v is not None and k not in PENALTIES}
    weight = sum(weights.get(k, 0.0) for k in present)
    mean = sum(weights.get(k, 0.0) * v for k, v in present.items()) / weight if weight else 0.0
    penalty = sum(weights.get(k, 0.0) * (values.get(k) or 0.0) for k in PENALTIES)
    return mean - penalty


def reward(
    spec: RewardSpec, record: Datum, outcome: Datum | None = None, feedback: Sequence[Datum] = ()
) -> Reward:
    """The reward of one run, part by part and in total."""
    values = parts(spec, record, outcome, feedback)
    return Reward(values, total(values, spec.weights))


# ---- TRL ----------------------------------------------------------------------------------

RewardFunc = Callable[..., list[float | None]]


def trl_reward_funcs(spec: RewardSpec) -> list[RewardFunc]:
    """``reward_funcs`` for TRL's ``GRPOTrainer``: one function per part plus ``total``, each
    called as TRL calls them — keyword arguments ``prompts``, ``completions`` (conversational:
    a list of messages per completion; standard: a string) and every other dataset column
    as a list — and returning one float per completion (None: this part does not apply to
    that row). The prompt dataset gives each row its ``run_record`` (the ``daemons.runs``
    datum), ``outcome`` (may be null) and ``feedback`` (a list of ``daemons.feedback`` datums)
    as JSON strings; ``daemons dataset build`` does not write these columns (its rows are the
    trainers' formats only)."""

    def scored(
        completions: Sequence[Any], kwargs: Mapping[str, Any]
    ) -> list[dict[str, float | None]]:
        n = len(completions)
        records = kwargs.get("run_record") or [None] * n
        outcomes = kwargs.get("outcome") or [None] * n
        feedbacks = kwargs.get("feedback") or [None] * n
        return [
            parts(spec, _loaded(r) or {}, _loaded(o), _loaded(f) or [], _text(c))
            for c, r, o, f in zip(completions, records, outcomes, feedbacks, strict=True)
        ]

    def one(name: str) -> RewardFunc:
        def func(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
            return [p[name] for p in scored(completions, kwargs)]

        func.__name__ = f"{name}_reward"
        return func

    def whole(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        return [total(p, spec.weights) for p in scored(completions, kwargs)]

    whole.__name__ = "total_reward"
    return [one(name) for name in ("format", "tools", "grounded", "correction")] + [whole]


def _text(completion: Any) -> str:
    """A completion's text: TRL's conversational form is a list of messages."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion:
        last = completion[-1]
        if isinstance(last, Mapping):
            return str(last.get("content") or "")
    return str(completion)


def _loaded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _when(item: Datum) -> str:
    """When feedback was given, comparable whether decoded (datetime) or from JSON (ISO)."""
    value = item.get("occurred_at")
    return value.isoformat() if isinstance(value, dt.datetime) else str(value or "")


_MISSING = object()
