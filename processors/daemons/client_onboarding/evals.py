"""Scoring one ``clients.onboarded`` datum against a labeled eval case.

A case is ``{"id", "note", "event", "expected"}`` (``evals.jsonl`` beside this module);
``expected`` has ``answers`` (question → right value) and ``needs_human`` (questions the
agent must leave to a person). Free-text questions (``industry``, ``bank``) are right when the
expected text occurs in the answer (case-insensitive); questions in neither list are not scored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from processors.daemons.client_onboarding.questionnaire import QUESTIONS, normalize
from processors.daemons.usecase import EvalSet

EVAL_SET = Path(__file__).parent / "evals.jsonl"


def load_cases(path: Path = EVAL_SET) -> list[dict[str, Any]]:
    """The labeled cases, one JSON object a line."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _correct(key: str, expected: str, got: str | None) -> bool:
    if got is None:
        return False
    if QUESTIONS[key].allowed is None and key != "currency":
        return expected.casefold() in got.casefold()
    return normalize(key, got) == normalize(key, expected)


def score(case: Mapping[str, Any], output_datum: Mapping[str, Any] | None) -> dict[str, Any]:
    """Per-question correctness, accuracy over scored questions, ``invented`` (questions the
    case leaves to a human that the output answered: the worst kind of error) and ``missed``
    (questions the case answers that the output handed to a human).

    ``output_datum`` None (no output: the run failed or a check blocked it) scores 0."""
    expected_answers: Mapping[str, str] = case["expected"]["answers"]
    expected_human: list[str] = case["expected"]["needs_human"]
    scored = [*expected_answers, *expected_human]
    if output_datum is None:
        return {"accuracy": 0.0, "fields": dict.fromkeys(scored, False), "invented": [],
                "missed": [], "produced": False}  # fmt: skip
    got = {a["question"]: a["value"] for a in output_datum["answers"]}
    human = set(output_datum["needs_human"])
    fields = {k: _correct(k, v, got.get(k)) for k, v in expected_answers.items()}
    fields |= {k: k in human and got.get(k) is None for k in expected_human}
    return {
        "accuracy": sum(fields.values()) / len(fields) if fields else 1.0,
        "fields": fields,
        "invented": [k for k in expected_human if got.get(k) is not None],
        "missed": [k for k in expected_answers if k in human],
        "produced": True,
    }


EVALS = EvalSet(cases=EVAL_SET, score=score, part_kind="question")
