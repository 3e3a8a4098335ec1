"""From the model's :class:`OnboardingChoice` to the :class:`OnboardingAnswers`: code copies
the profile look-ups and sets the confidences.

Entity type, fiscal year end and currency are fields of the company profile ``getClient``
returned in this run: code copies them, citing the field (the fiscal year ends the month
before ``fiscal_year_start_month``), as sure as the record (0.9). The model answers one of
them only when a signup answer states it; code then cites the profile field beside the signup
answer, so a signup that contradicts the profile is reported by ``sources_support_values`` and
handed to a human, exactly as when the model cited both. An answer the model gave from the
profile alone is replaced by the copied value. The model's other answers — read off the
signup answers and the bank feed, their citations verified by the checks — are a choice
(0.6 would be an inference; they are stated by the source they cite, so 0.8). Pure: evidence
in, answers out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processors.daemons.client_onboarding.checks import PROFILE
from processors.daemons.client_onboarding.models import Answer, OnboardingAnswers, OnboardingChoice
from processors.daemons.client_onboarding.questionnaire import normalize, year_end_month
from processors.guardrails.checks import ToolEvidence

COPIED = 0.9  # a value copied from the profile getClient returned
CHOSEN = 0.8  # a value the model read off a cited signup answer or transaction

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


def answers(choice: OnboardingChoice, evidence: Sequence[ToolEvidence]) -> OnboardingAnswers:
    """The answer set the choice stands for, the profile's answers copied by code."""
    profile = _profile(evidence)
    result: list[Answer] = []
    for given in choice.answers:
        cited = list(given.evidence)
        field = COPIED_FROM_PROFILE.get(given.question)
        if field is not None and given.value is None:
            continue  # nothing stated: the profile answers it below
        if field is not None and all(e.startswith(PROFILE) for e in cited):
            continue  # the model read the profile: code copies it below
        if field is not None and f"{PROFILE}{field}" not in cited:
            cited.append(f"{PROFILE}{field}")
        result.append(
            Answer(question=given.question, evidence=cited, value=given.value, confidence=CHOSEN)
        )
    answered = {a.question for a in result}
    for key, field in COPIED_FROM_PROFILE.items():
        value = copied(key, profile)
        if key not in answered and value is not None:
            result.append(
                Answer(
                    question=key,  # type: ignore[arg-type]  # a QuestionKey by construction
                    evidence=[f"{PROFILE}{field}"],
                    value=value,
                    confidence=COPIED,
                )
            )
    return OnboardingAnswers(answers=result)


def resolve(
    choice: OnboardingChoice, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]
) -> OnboardingAnswers:
    """The use case's ``resolve`` hook (the event is not needed here)."""
    return answers(choice, evidence)
