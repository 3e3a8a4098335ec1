"""Score one ``questions.answered`` datum against a labeled case of
``processors/daemons/question_answering/evals.jsonl``.

A case is ``{"id", "event", "expected": {"can_answer", "figures": [{"label", "amount_minor",
"record_ids"}], "difference_minor", "periods", "filters", "note"}}``. Labels, periods and the
wording are not scored (many phrasings are right); amounts, record ids and the
answer/cannot-answer decision are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from processors.daemons.usecase import EvalSet

CASES = Path(__file__).parent / "evals.jsonl"


def load_cases(path: Path = CASES) -> list[dict[str, Any]]:
    """The labeled cases, one JSON object a line."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def score(case: Mapping[str, Any], output_datum: Mapping[str, Any] | None) -> dict[str, Any]:
    """Compare a published datum (``None``: nothing was published, e.g. a failed check).

    Returns booleans/fractions per aspect and ``score`` (their mean, 0..1).
    """
    expected = case["expected"]
    if output_datum is None:  # every aspect the case scores is wrong
        failed: dict[str, Any] = {"produced": False, "can_answer_correct": False, "score": 0.0}
        if expected["can_answer"]:
            failed |= {"figure_amount_recall": 0.0, "figure_ids_recall": 0.0}
            if expected.get("difference_minor") is not None:
                failed["difference_correct"] = False
        else:
            failed["reason_given"] = False
        return failed
    got = list(output_datum.get("figures", []))
    result: dict[str, Any] = {
        "produced": True,
        "can_answer_correct": output_datum["can_answer"] == expected["can_answer"],
    }
    parts: list[float] = [float(result["can_answer_correct"])]
    if expected["can_answer"]:
        wanted = expected["figures"]
        amount_hits = sum(1 for w in wanted if any(_same_amount(w, g) for g in got))
        id_hits = sum(1 for w in wanted if any(_same_figure(w, g) for g in got))
        result["figure_amount_recall"] = amount_hits / len(wanted) if wanted else 1.0
        result["figure_ids_recall"] = id_hits / len(wanted) if wanted else 1.0
        parts += [result["figure_amount_recall"], result["figure_ids_recall"]]
        if expected.get("difference_minor") is not None:
            diff = expected["difference_minor"]
            result["difference_correct"] = any(
                g["amount_minor"] in (diff, -diff) for g in got if g not in _matched(wanted, got)
            )
            parts.append(float(result["difference_correct"]))
    else:
        result["reason_given"] = bool((output_datum.get("reason") or "").strip())
        parts.append(float(result["reason_given"]))
    result["score"] = sum(parts) / len(parts)
    return result


def _same_amount(wanted: Mapping[str, Any], got: Mapping[str, Any]) -> bool:
    return bool(wanted["amount_minor"] == got["amount_minor"])


def _same_figure(wanted: Mapping[str, Any], got: Mapping[str, Any]) -> bool:
    return _same_amount(wanted, got) and set(wanted["record_ids"]) == set(got["record_ids"])


def _matched(
    wanted: list[Mapping[str, Any]], got: list[Mapping[str, Any]]
) -> list[Mapping[str, Any]]:
    """The datum's figures that stand for an expected figure (so a difference is not one)."""
    return [g for g in got if any(_same_figure(w, g) for w in wanted)]


EVALS = EvalSet(cases=CASES, score=score, part_kind="aspect")
