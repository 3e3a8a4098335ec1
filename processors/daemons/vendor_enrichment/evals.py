"""Scoring one ``vendors.enriched`` datum against a labeled eval case.

A case is ``{"id", "event", "expected"}`` (``evals.jsonl`` beside this module).
``expected`` maps an output field to the right value, to a list of acceptable values, or to
``"unknown"`` (the agent must not claim a value); fields it leaves out are not scored.
``"written_back": true`` expects a vendor id from the write-back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from processors.daemons.usecase import EvalSet
from processors.daemons.vendor_enrichment.models import VALUE_FIELDS

EVAL_SET = Path(__file__).parent / "evals.jsonl"
UNKNOWN = "unknown"


def load_cases(path: Path = EVAL_SET) -> list[dict[str, Any]]:
    """The labeled cases, one JSON object a line."""
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def _norm(field: str, value: str) -> str:
    text = " ".join(value.casefold().split())
    if field == "website":
        return re.sub(r"^(?:https?://)?(?:www\.)?", "", text).rstrip("/")
    if field == "phone":
        return re.sub(r"\D", "", text)
    return text


def _field_correct(field: str, expected: Any, got: Mapping[str, Any]) -> bool:
    if expected == UNKNOWN:
        return bool(got["status"] == UNKNOWN)
    if got["status"] != "known" or got["value"] is None:
        return False
    wanted = expected if isinstance(expected, list) else [expected]
    return _norm(field, str(got["value"])) in {_norm(field, str(w)) for w in wanted}


def score(case: Mapping[str, Any], output_datum: Mapping[str, Any] | None) -> dict[str, Any]:
    """Per-field correctness, accuracy over the scored fields, and ``invented``: fields the
    case marks unknown for which the output claims a value (the worst kind of error).

    ``output_datum`` None (no output: the run failed or a check blocked it) scores 0."""
    expected: Mapping[str, Any] = case["expected"]
    scored = [f for f in VALUE_FIELDS if f in expected]
    if output_datum is None:
        return {"accuracy": 0.0, "fields": {f: False for f in scored}, "invented": [],
                "written_back": False, "produced": False}  # fmt: skip
    fields = {f: _field_correct(f, expected[f], output_datum[f]) for f in scored}
    invented = [
        f for f in scored if expected[f] == UNKNOWN and output_datum[f]["status"] == "known"
    ]
    written = output_datum.get("vendor_id") is not None
    checks = list(fields.values())
    if "written_back" in expected:
        checks.append(written == bool(expected["written_back"]))
    return {
        "accuracy": sum(checks) / len(checks) if checks else 1.0,
        "fields": fields,
        "invented": invented,
        "written_back": written,
        "produced": True,
    }


EVALS = EvalSet(cases=EVAL_SET, score=score, part_kind="field")
