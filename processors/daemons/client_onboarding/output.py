"""From the agent's answers to the ``clients.onboarded`` datum: every question, answered or
handed to a human.

Code, not the model, decides what goes to ``needs_human``: a question left out, answered with
null, answered below :data:`~.checks.MIN_CONFIDENCE`, with a value outside its allowed set,
or whose only evidence is a signup key the event does not have; the checks have already
demoted (nulled) answers whose evidence is missing, untraceable or does not support them.
Such questions keep their place in ``answers`` with ``value`` null, confidence 0 and no
evidence (the checks only verify the citations of answered questions), so nothing reads as a
fact that is not one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processors.daemons.client_onboarding.checks import MIN_CONFIDENCE, SIGNUP
from processors.daemons.client_onboarding.models import Answer, OnboardingAnswers
from processors.daemons.client_onboarding.questionnaire import KEYS, normalize
from processors.tools.evidence import ToolEvidence


def to_output(
    event: Mapping[str, Any], output: OnboardingAnswers, evidence: Sequence[ToolEvidence] = ()
) -> dict[str, Any]:
    """The use-case fields of the ClientOnboarded datum (the pipeline adds ids and
    timestamps). ``evidence`` is not needed: the checked output holds what was copied from it."""
    signup_keys = set(event.get("signup_answers") or {})
    given: dict[str, Answer] = {a.question: a for a in output.answers}
    answers: list[dict[str, Any]] = []
    needs_human: list[str] = []
    for key in KEYS:
        answer = given.get(key)
        datum = _datum(key, answer, signup_keys) if answer is not None else None
        if datum is None or datum["value"] is None:
            needs_human.append(key)
            datum = datum or {"question": key, "value": None, "confidence": 0.0, "evidence": []}
        answers.append(datum)
    return {
        "client_id": event["client_id"],
        "signup_answers": {str(k): str(v) for k, v in (event.get("signup_answers") or {}).items()},
        "answers": answers,
        "needs_human": needs_human,
    }


def _datum(key: str, answer: Answer, signup_keys: set[str]) -> dict[str, Any]:
    evidence = [
        e.strip()
        for e in answer.evidence
        if e.strip() and (not e.startswith(SIGNUP) or e.removeprefix(SIGNUP).strip() in signup_keys)
    ]
    value = None if answer.value is None else normalize(key, answer.value)
    if not evidence or answer.confidence < MIN_CONFIDENCE:
        value = None
    if value is None:  # a question for a human carries no unchecked citations
        return {"question": key, "value": None, "confidence": 0.0, "evidence": []}
    return {
        "question": key,
        "value": value,
        "confidence": float(answer.confidence),
        "evidence": evidence,
    }
