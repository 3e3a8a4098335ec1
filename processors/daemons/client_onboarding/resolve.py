"""From the model's :class:`OnboardingChoice` to the :class:`OnboardingAnswers`: code copies
the profile look-ups.

Entity type, fiscal year end and currency are fields of the company profile ``getClient``
returned in this run: code copies them, citing the field (the fiscal year ends the month
before ``fiscal_year_start_month``), as sure as the record (0.9). A model's answer to one of
them counts only when it cites a signup answer the event has; code then cites the profile
field beside it, so a signup that contradicts the profile is reported by
``sources_support_values`` and handed to a human, exactly as when the model cited both. Any
other answer to them (from the profile alone, or citing what the event does not have) is
replaced by the copied value. The industry is copied from the profile too when the model
gave none, or one that cites neither the profile nor a signup answer. The payroll provider and
payment processors the model left out are read off the bank feed by code (the debits and
credits whose descriptors name them, cited), unless a signup answer names a provider the feed
does not show — that is for a person. A citation of a signup key the event does not have is
dropped from every answer before the checks (the rest of its evidence still has to support
it). Pure: evidence and event in, answers out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processors.daemons.client_onboarding.checks import PROFILE, SIDE, SIGNUP, Facts, naming
from processors.daemons.client_onboarding.models import Answer, OnboardingAnswers, OnboardingChoice
from processors.daemons.client_onboarding.questionnaire import MAX_TEXT, normalize, year_end_month
from processors.tools.evidence import ToolEvidence

COPIED = 0.9  # a value copied from the profile getClient returned

# question -> the profile field code copies it from
COPIED_FROM_PROFILE = {
    "entity_type": "entity_type",
    "fiscal_year_end": "fiscal_year_start_month",
    "currency": "currency",
}


def _profile(evidence: Sequence[ToolEvidence]) -> Mapping[str, Any]:
    found: Mapping[str, Any] = {}
    for item in evidence:
        if item.tool == "getClient" and item.error is None and isinstance(item.result, Mapping):
            found = item.result
    return found


def copied(key: str, profile: Mapping[str, Any]) -> str | None:
    """The answer to profile question ``key`` the profile gives (None: it gives none)."""
    raw = profile.get(COPIED_FROM_PROFILE[key])
    if key == "fiscal_year_end":
        if isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= 12:
            return year_end_month(raw)
        return None
    return None if raw is None else normalize(key, str(raw))


def answers(
    choice: OnboardingChoice, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]
) -> OnboardingAnswers:
    """The answer set the choice stands for, the profile's answers copied by code."""
    profile = _profile(evidence)
    signup = {f"{SIGNUP}{key}" for key in event.get("signup_answers") or {}}
    result: list[Answer] = []
    for given in choice.answers:
        # a signup key the event does not have is no citation at all
        cited = [e for e in given.evidence if not e.startswith(SIGNUP) or e in signup]
        field = COPIED_FROM_PROFILE.get(given.question)
        if field is not None:
            stated = [e for e in cited if e.startswith(SIGNUP)]
            if given.value is None or not stated:
                continue  # no signup states it: the profile answers it below
            cited = [*stated, f"{PROFILE}{field}"]  # compared with the profile by the checks
        result.append(
            Answer(
                question=given.question, evidence=cited, value=given.value,
                confidence=given.confidence,
            )
        )  # fmt: skip
    answered = {a.question for a in result if a.value is not None}
    for key, field in COPIED_FROM_PROFILE.items():
        value = copied(key, profile)
        if key not in answered and value is not None:
            result = [a for a in result if a.question != key]
            result.append(
                Answer(
                    question=key,  # type: ignore[arg-type]  # a QuestionKey by construction
                    evidence=[f"{PROFILE}{field}"],
                    value=value,
                    confidence=COPIED,
                )
            )
    industry = _text(profile.get("industry"))
    given_industry = next((a for a in result if a.question == "industry"), None)
    if given_industry is not None and not any(
        e in signup or e == f"{PROFILE}industry" for e in given_industry.evidence
    ):
        answered.discard("industry")  # the profile states it; a record id only hints at it
    if "industry" not in answered and industry is not None:
        result = [a for a in result if a.question != "industry"]
        result.append(
            Answer(
                question="industry", evidence=[f"{PROFILE}industry"], value=industry[:MAX_TEXT],
                confidence=COPIED,
            )
        )  # fmt: skip
    for key in ("payroll_provider", "payment_processors"):
        found = _from_feed(key, Facts.of(evidence), event)
        if key not in answered and found is not None:
            result = [a for a in result if a.question != key]
            result.append(found)
    return OnboardingAnswers(answers=result)


def _from_feed(key: str, facts: Facts, event: Mapping[str, Any]) -> Answer | None:
    """The payroll provider or payment processors the bank feed names (debits to a payroll
    provider, credits from a processor), citing those records — unless a signup answer names
    a provider of that kind the feed does not show (then a person compares them)."""
    _direction, markers = SIDE[key]
    seen = [name for name in markers if naming(key, name, facts.transactions.values())]
    text = " ".join(str(v) for v in (event.get("signup_answers") or {}).values()).upper()
    said = {name for name, marker in markers.items() if marker in text or name.upper() in text}
    if not seen or not said <= set(seen):
        return None
    cited = [
        str(tx["transaction_id"])
        for name in seen
        for tx in naming(key, name, facts.transactions.values())[:3]
    ]
    return Answer(
        question=key,  # type: ignore[arg-type]  # a QuestionKey by construction
        evidence=cited, value=",".join(sorted(seen)), confidence=COPIED,
    )  # fmt: skip


def _text(value: Any) -> str | None:
    return None if value is None or not str(value).strip() else str(value).strip()


def resolve(
    choice: OnboardingChoice, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]
) -> OnboardingAnswers:
    """The use case's ``resolve`` hook."""
    return answers(choice, evidence, event)
