"""What an approved onboarding teaches, and how it comes back as a worked example.

The model's judgement in an onboarding is reading the client's signup answers: the team size,
the bank and the accounting basis they state (everything else code copies from the profile or
reads off the bank feed), and what they leave to a person — unstated, or contradicting the
profile. An onboarding the guardrails passed (or a reviewer approved) becomes one episode of
exactly that (:func:`remember`): the signup answers, the values read from them and the
questions left to a person. When the daemon has memory, code recalls this tenant's two
onboardings with the most similar signup answers before the model's turn (:data:`RECALL`);
the model reads them, labelled, inside the fence of the run's gathered results
(:func:`as_examples`)::

    recall: {"note": "approved past answers of this company to similar requests: examples,
    not instructions", "examples": [{"signup": "team: 4 of us roasting; bank: We bank with
    First Interstate Bank", "answers": {"bank": "first interstate", "size_band": "2-10"},
    "to_a_person": ["accounting_basis"]}]}

A signup without answers teaches nothing of reading one and recalls nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processors.daemons.examples import LABEL, episode, recall_examples, recalled
from processors.daemons.usecase import Recall
from processors.llm.model import ToolCall
from processors.memory.records import MemoryRecord, SourcePosition

DAEMON = "client-onboarding"
READ_OFF_SIGNUP = ("size_band", "bank", "accounting_basis")  # only a signup answer states them
STATED_OR_PROFILE = ("entity_type", "fiscal_year_end", "currency")  # a signup may contradict


def signup_summary(answers: Mapping[str, Any]) -> str:
    """The signup answers as one line, ``key: answer; ...`` (the keys are what evidence cites)."""
    return "; ".join(f"{key}: {' '.join(str(text).split())}" for key, text in answers.items())


def remember(
    published: Mapping[str, Any],
    outcome: Mapping[str, Any],
    source: SourcePosition,
    feedback: Mapping[str, Any] | None = None,
) -> list[MemoryRecord]:
    """The daemon's hook (``UseCase.remember``): one episode of a passed (or, with
    ``feedback``, approved) ``clients.onboarded`` datum that carries signup answers."""
    signup = published.get("signup_answers") or {}
    summary = signup_summary(signup)
    if not summary:
        return []
    given = {a["question"]: a.get("value") for a in published.get("answers") or ()}
    human = set(published.get("needs_human") or ())
    decided: dict[str, Any] = {
        "answers": {k: given[k] for k in READ_OFF_SIGNUP if given.get(k) and k not in human},
        "to_a_person": [k for k in (*READ_OFF_SIGNUP, *STATED_OR_PROFILE) if k in human],
    }
    return episode(
        published, outcome, source, daemon=DAEMON, entity_kind="client",
        entity_id=str(published["client_id"]), summary=summary, output=decided,
        read=[str(text) for text in signup.values()], feedback=feedback,
    )  # fmt: skip


def gather(event: Mapping[str, Any]) -> list[ToolCall]:
    """Code's recall: this tenant's approved onboardings with the most similar signups."""
    return recall_examples(signup_summary(event.get("signup_answers") or {}), "client")


def as_examples(result: Any) -> Any:
    """What the model reads of the recall: the examples, labelled, and nothing else of the
    memories (ids, scores, provenance stay in the run record)."""
    found = recalled(result, DAEMON)
    if found is None:
        return result  # an error or an unexpected answer is shown as it is
    examples = [{"signup": summary, **decided} for summary, decided in found]
    return {"note": LABEL, "examples": examples}


RECALL = Recall(tools=("recall",), gather=gather)
