"""The judge's criteria for onboarding answers: each answer against the sources on its topic.

Code gives each answer only what bears on it: the signup form, the profile's fields on the
same topic, and for the providers read off the bank feed the transaction descriptors. Where
the questionnaire lists the allowed values, the model picks the value the sources give
without being shown the answer's (a blind choice); free-text answers it checks as claims.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processors.daemons.client_onboarding.questionnaire import QUESTIONS, normalize
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


NOT_STATED = "not stated"
DISAGREE = "the sources disagree"


def _asks(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence],
    *, listed: bool,
) -> list[Ask | Decided]:  # fmt: skip
    """Per answer to a question with (``listed``) or without a list of allowed values: the
    claim and the sources on its topic. An answer to no question of the questionnaire, or
    outside its allowed values, is "no" from code (asked with the listed ones)."""
    profile = _profile(evidence)
    signup = event.get("signup_answers") or {}
    asks: list[Ask | Decided] = []
    for answer in output.get("answers") or ():
        if not isinstance(answer, Mapping) or answer.get("value") in (None, ""):
            continue
        key, value = str(answer.get("question")), str(answer.get("value"))
        question = QUESTIONS.get(key)
        if question is None:
            if listed:
                asks.append(Decided("no", f"{key!r} is no question of the questionnaire", key))
            continue
        if (question.allowed is not None and not question.multi) != listed:
            continue
        slice_: dict[str, str] = {
            "questionnaire item": question.text,
            "signup form": "\n".join(f"{k}: {v}" for k, v in signup.items()) or "(empty)",
        }
        keys = PROFILE_FIELDS.get(key, tuple(profile))
        if keys and profile:
            slice_["client profile"] = "\n".join(f"{k}: {profile.get(k)}" for k in keys)
        if key in FROM_TRANSACTIONS:
            slice_["bank transactions"] = "\n".join(_descriptors(evidence)) or "(none read)"
        claim = f"{key} = {value}"
        if not listed:
            asks.append(Ask(claim, slice_, key))
            continue
        normal = normalize(key, value)
        if normal is None:
            asks.append(Decided("no", f"{value!r} is not one of {list(question.allowed or ())}",
                                key))  # fmt: skip
            continue
        options = (*(question.allowed or ()), NOT_STATED, DISAGREE)
        asks.append(Ask(claim, slice_, key, options=options, expected=(normal,)))
    return asks


def listed_answer(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence]
) -> list[Ask | Decided]:
    """A blind choice among the item's allowed values (and "not stated", "the sources
    disagree"): met when the model reads the answer's value off the sources."""
    return _asks(event, output, evidence, listed=True)


def free_answer(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence]
) -> list[Ask | Decided]:
    """A free-text (or several-valued) answer as a claim: do the sources support it?"""
    return _asks(event, output, evidence, listed=False)


CRITERIA = Criteria((
    Criterion(
        "listed_answer",
        "What do the sources say for this questionnaire item? If two sources say different "
        "things, the sources disagree.",
        listed_answer,
    ),
    Criterion(
        "free_answer",
        "Do the sources say this for the questionnaire item, with no source saying "
        "something different?",
        free_answer,
    ),
))  # fmt: skip
