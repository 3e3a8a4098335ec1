"""The judge's criteria for onboarding answers: each answer against the sources on its topic.

Code gives each answer only what bears on it: the signup form, the profile's fields on the
same topic, and for the providers read off the bank feed the transaction descriptors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processors.guardrails.criteria import Ask, Criteria, Criterion, Decided
from processors.tools.evidence import ToolEvidence

# question -> the profile's fields on its topic (a question not listed: the whole profile)
PROFILE_FIELDS: dict[str, tuple[str, ...]] = {
    "entity_type": ("legal_name", "entity_type"),
    "industry": ("display_name", "industry"),
    "currency": ("currency", "address"),
    "fiscal_year_end": ("fiscal_year_start_month",),
    "bank": (),
    "size_band": (),
    "accounting_basis": (),
    "payroll_provider": (),
    "payment_processors": (),
}
FROM_TRANSACTIONS = ("payroll_provider", "payment_processors", "bank")
_DESCRIPTORS = 40  # distinct descriptors shown at most


def _profile(evidence: Sequence[ToolEvidence]) -> Mapping[str, Any]:
    for e in evidence:
        if e.tool == "getClient" and isinstance(e.result, Mapping):
            return e.result
    return {}


def _descriptors(evidence: Sequence[ToolEvidence]) -> list[str]:
    seen: dict[str, None] = {}
    for e in evidence:
        if e.tool == "listTransactions" and isinstance(e.result, Mapping):
            for t in e.result.get("transactions") or ():
                if isinstance(t, Mapping) and t.get("descriptor"):
                    seen[f"{t.get('direction', '')} {t['descriptor']}".strip()] = None
    return list(seen)[:_DESCRIPTORS]


def answer_supported(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence]
) -> list[Ask | Decided]:
    profile = _profile(evidence)
    signup = event.get("signup_answers") or {}
    asks: list[Ask | Decided] = []
    for answer in output.get("answers") or ():
        if not isinstance(answer, Mapping) or answer.get("value") in (None, ""):
            continue
        question = str(answer.get("question"))
        keys = PROFILE_FIELDS.get(question, tuple(profile))
        slice_: dict[str, str] = {
            "signup form": "\n".join(f"{k}: {v}" for k, v in signup.items()) or "(empty)",
        }
        if keys and profile:
            slice_["client profile"] = "\n".join(f"{k}: {profile.get(k)}" for k in keys)
        if question in FROM_TRANSACTIONS:
            slice_["bank transactions"] = "\n".join(_descriptors(evidence)) or "(none read)"
        claim = f"{question} = {answer.get('value')}"
        asks.append(Ask(claim, slice_, question))
    return asks


CRITERIA = Criteria((
    Criterion(
        "answer_supported",
        "Do the sources state or clearly show this answer, with no source saying something "
        "different?",
        answer_supported,
    ),
))  # fmt: skip
