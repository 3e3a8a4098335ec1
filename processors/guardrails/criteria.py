"""A daemon's judge policy as data: yes/no criteria, each about one claim of the output.

A :class:`Criterion` is a question (``Is the business in this directory entry the one the
card descriptor names?``) and a *selector*: a pure function of the event, the output (the
datum the daemon would publish) and the run's tool evidence that returns what to ask —
one :class:`Ask` per claim the question bears on (one per figure, one per onboarding
answer…), each holding only that claim and the slice of evidence that bears on it. The
selector returns nothing when the criterion does not apply (a figure question about a
"cannot answer" output): it is skipped, not asked. When no evidence at all exists for a
claim (a cited directory entry the tools never returned, a figure with no tool total) the
selector returns a :class:`Decided` answer instead: code answers, no model call is spent.

:func:`combine` turns the answers into the verdict: any answer other than the criterion's
``passes_on`` (and other than ``unsure``) fails the output, else any ``unsure`` holds it for
review, else it passes. Every reason names its criterion.

A use case declares its criteria in ``UseCase.criteria`` (see ``docs/writing-a-daemon.md``);
the judge (:mod:`.judge`) asks each :class:`Ask` as its own small constrained call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from processors.agent.prompt import short_hash
from processors.tools.evidence import ToolEvidence

Answer = Literal["yes", "no", "unsure"]
Verdict = Literal["pass", "fail", "needs_review"]


@dataclass(frozen=True)
class Ask:
    """One question for the judge model: the claim (code's rendering of part of the output)
    and the evidence that bears on it, by source name. Both are untrusted text: the judge
    fences them. ``label`` says which claim when a criterion asks several (``figure 2``).

    With ``options`` the question is a *blind choice*: the model is shown the evidence and
    the options, never the claim, and picks the option the evidence supports; the claim is
    met when it picks one of ``expected`` (the options that agree with the output). A small
    model confirms most claims it is shown; reading a value off the evidence it does well."""

    claim: str
    evidence: Mapping[str, str]
    label: str = ""
    options: tuple[str, ...] = ()
    expected: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.options and not set(self.expected) <= set(self.options):
            raise ValueError(f"expected {self.expected} not among the options {self.options}")
        if len(set(self.options)) != len(self.options) or "unsure" in self.options:
            raise ValueError(f"options must be distinct and not 'unsure': {self.options}")


@dataclass(frozen=True)
class Decided:
    """An answer code gives without a model call, because no evidence bears on the claim."""

    answer: Answer
    reason: str
    label: str = ""


Select = Callable[[Mapping[str, Any], Mapping[str, Any], Sequence[ToolEvidence]],
                  Sequence[Ask | Decided]]  # fmt: skip


@dataclass(frozen=True)
class Criterion:
    """A yes/no question about one kind of claim, and how code picks its claims and evidence.

    ``passes_on``: the answer a good output gets (``"yes"`` unless the question is phrased
    the other way round)."""

    name: str
    question: str
    select: Select
    passes_on: Literal["yes", "no"] = "yes"

    def key_of(self, item: Ask | Decided) -> str:
        return f"{self.name}[{item.label}]" if item.label else self.name


@dataclass(frozen=True)
class Criteria:
    """A daemon's criteria, in the order they are asked. ``version`` changes when a name,
    question or polarity does (it is the judge policy's version in verdicts)."""

    items: tuple[Criterion, ...]
    version: str = field(init=False)

    def __post_init__(self) -> None:
        names = [c.name for c in self.items]
        if len(set(names)) != len(names):
            raise ValueError(f"criterion names must be unique: {names}")
        text = json.dumps([[c.name, c.question, c.passes_on] for c in self.items])
        object.__setattr__(self, "version", short_hash(text))


@dataclass(frozen=True)
class Answered:
    """One criterion's answer about one claim; ``asked`` False when code answered."""

    criterion: str
    label: str
    answer: Answer
    reason: str
    passes_on: Literal["yes", "no"]
    asked: bool = True

    @property
    def key(self) -> str:
        return f"{self.criterion}[{self.label}]" if self.label else self.criterion

    @property
    def outcome(self) -> Literal["met", "violated", "unsure"]:
        if self.answer == "unsure":
            return "unsure"
        return "met" if self.answer == self.passes_on else "violated"


@dataclass(frozen=True)
class Combined:
    verdict: Verdict
    reasons: list[str]
    scores: dict[str, float]  # per criterion asked: 1.0 met, 0.0 violated, 0.5 unsure (worst claim)


def combine(answers: Sequence[Answered], skipped: Sequence[str] = ()) -> Combined:
    """The verdict from the criteria's answers: a violated criterion fails the output, an
    ``unsure`` one holds it for review, all met (or none applying) pass it. Reasons name the
    criteria: the violated first, then the unsure; on a pass, every criterion met."""
    scores: dict[str, float] = {}
    for a in answers:  # per criterion, its worst claim
        score = {"met": 1.0, "violated": 0.0, "unsure": 0.5}[a.outcome]
        scores[a.criterion] = min(score, scores.get(a.criterion, 1.0))
    violated = [a for a in answers if a.outcome == "violated"]
    unsure = [a for a in answers if a.outcome == "unsure"]

    def why(a: Answered) -> str:
        by = "" if a.asked else " (decided by code)"
        return f"{a.key}: {a.answer}{by} — {a.reason}"[:500]

    if violated:
        return Combined("fail", [why(a) for a in [*violated, *unsure]], scores)
    if unsure:
        return Combined("needs_review", [why(a) for a in unsure], scores)
    if not answers:
        note = f" (skipped: {', '.join(skipped)})" if skipped else ""
        return Combined("pass", [f"no criterion applies to this output{note}"], scores)
    return Combined("pass", [f"{a.key}: {a.answer}" for a in answers], scores)
