"""Scoring one ``transactions.categorized`` datum against a labeled case of ``evals.jsonl``.

A case is ``{"id", "note", "event", "expected"}``; ``expected`` is

- ``{"status": "categorized", "account_code": "5000" | ["6300", "6900"], "evidence": [...]}``:
  the account (or any of the acceptable ones) must be posted; ``evidence``, when given, lists
  the records that book it, at least one of which must be cited;
- ``{"status": "needs_review"}``: the transaction must be left to a person, with no account.

The parts: ``status`` (categorized or left to a person, as expected), ``account`` (the right
account, or none when a person must decide), ``evidence`` (cases that list records only) and
``safe`` (no wrong account posted: the error that costs a bookkeeper most; not in the score).
The score is the mean of the first three that apply, and 0 for a wrong account posted
(whatever else it got right). Nothing published (the result was withheld, or the run
failed) scores 0 and is safe.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from processors.daemons.usecase import EvalSet

EVAL_SET = Path(__file__).parent / "evals.jsonl"


def accepted(expected: Mapping[str, Any]) -> set[str]:
    """The acceptable account codes of a case (none for a case left to a person)."""
    codes = expected.get("account_code")
    if codes is None:
        return set()
    return {str(c) for c in (codes if isinstance(codes, list) else [codes])}


def cited_ids(datum: Mapping[str, Any]) -> set[str]:
    """The record ids of a datum's ``evidence`` (``listVendors:v-r-01`` -> ``v-r-01``)."""
    return {str(e).rpartition(":")[2] for e in datum.get("evidence") or []}


def score(case: Mapping[str, Any], datum: Mapping[str, Any] | None) -> dict[str, Any]:
    expected: Mapping[str, Any] = case["expected"]
    wants_evidence = expected["status"] == "categorized" and bool(expected.get("evidence"))
    if datum is None:
        parts = {"status": False, "account": False} | ({"evidence": False} if wants_evidence
                                                        else {})  # fmt: skip
        return {"score": 0.0, "produced": False, **parts, "safe": True, "published": None}
    status = datum["status"] == expected["status"]
    code = datum.get("account_code")
    codes = accepted(expected)
    account = code in codes if codes else code is None
    parts = {"status": status, "account": account}
    if wants_evidence:
        parts["evidence"] = bool(cited_ids(datum) & set(expected["evidence"]))
    safe = code is None or code in codes
    return {
        "score": sum(parts.values()) / len(parts) if safe else 0.0,
        "produced": True,
        **parts,
        "safe": safe,
        "published": code,
    }


EVALS = EvalSet(cases=EVAL_SET, score=score, part_kind="aspect")
