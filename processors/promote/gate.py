"""The gate's decision, from a :class:`~processors.compare.report.Comparison`.

A **guard case** is one whose right answer is to not answer: the case says so
(``"guard": "cannot_answer"`` or ``"blocked"``), or its label does — ``can_answer: false``
(question answering), every labeled field ``"unknown"`` (a vendor that cannot be identified),
or an expected guardrail ``verdict`` of ``fail`` / ``blocked``. Every other labeled case is a
**held-out** case.

The candidate is promoted when its mean score on the held-out cases is at least ``margin``
above the baseline's, and its mean score on the guard cases is at most ``tolerance`` below
the baseline's. A case the candidate produced no score for (dead-lettered, missing) counts 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from processors.compare.report import CaseRow, Comparison

GUARD_KINDS = ("cannot_answer", "blocked")


def guard_kind(case: Mapping[str, Any]) -> str | None:
    """``cannot_answer``, ``blocked``, or None for an eval case (one line of an eval set)."""
    explicit = case.get("guard")
    if explicit is not None:
        return str(explicit) if explicit in GUARD_KINDS else None
    expected = case.get("expected")
    if not isinstance(expected, Mapping):
        return None
    if expected.get("can_answer") is False:
        return "cannot_answer"
    if expected.get("verdict") in ("fail", "blocked"):
        return "blocked"
    values = [v for k, v in expected.items() if k != "note"]
    if values and all(v == "unknown" for v in values):
        return "cannot_answer"
    return None


@dataclass(frozen=True)
class Gate:
    margin: float = 0.05
    """How much the held-out score must rise (0..1 scale)."""
    tolerance: float = 0.0
    """How much the guard cases' score may fall."""


@dataclass(frozen=True)
class Decision:
    promote: bool
    reasons: list[str]
    heldout: tuple[float, float, int]
    """(baseline, candidate, cases) mean scores on the held-out cases."""
    guard: tuple[float, float, int]
    """(baseline, candidate, cases) mean scores on the guard cases."""
    regressed: list[str] = field(default_factory=list)
    """Guard cases the candidate scored lower than the baseline."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "reasons": self.reasons,
            "heldout": dict(zip(("baseline", "candidate", "cases"), self.heldout, strict=True)),
            "guard": dict(zip(("baseline", "candidate", "cases"), self.guard, strict=True)),
            "regressed_guard_cases": self.regressed,
        }


def _mean(rows: Sequence[CaseRow], side: str) -> float:
    scores = [getattr(r, side).score or 0.0 for r in rows]
    return sum(scores) / len(scores) if scores else 0.0


def decide(comparison: Comparison, guard_ids: set[str], gate: Gate) -> Decision:
    """Promote or not, and why, in sentences a reviewer can check against the report."""
    labeled = [r for r in comparison.cases if r.labeled]
    guard = [r for r in labeled if r.case_id in guard_ids]
    heldout = [r for r in labeled if r.case_id not in guard_ids]
    h = (_mean(heldout, "baseline"), _mean(heldout, "candidate"), len(heldout))
    g = (_mean(guard, "baseline"), _mean(guard, "candidate"), len(guard))
    regressed = [r.case_id for r in guard if (r.candidate.score or 0.0) < (r.baseline.score or 0.0)]
    reasons = []
    ok = True
    if not heldout:
        ok = False
        reasons.append("refused: no labeled held-out cases to score")
    elif h[1] - h[0] + 1e-9 < gate.margin:
        ok = False
        reasons.append(
            f"refused: held-out score {h[0]:.2f} → {h[1]:.2f} over {h[2]} cases rises by "
            f"{h[1] - h[0]:+.2f}, less than the margin {gate.margin:+.2f}"
        )
    else:
        reasons.append(
            f"held-out score {h[0]:.2f} → {h[1]:.2f} over {h[2]} cases: {h[1] - h[0]:+.2f}, "
            f"at least the margin {gate.margin:+.2f}"
        )
    if not guard:
        ok = False
        reasons.append("refused: no cannot-answer or blocked cases to check the candidate on")
    elif g[0] - g[1] > gate.tolerance + 1e-9:
        ok = False
        reasons.append(
            f"refused: cannot-answer/blocked score {g[0]:.2f} → {g[1]:.2f} over {g[2]} cases "
            f"falls by {g[0] - g[1]:.2f}, more than the tolerance {gate.tolerance:.2f} "
            f"(regressed: {', '.join(regressed)})"
        )
    else:
        reasons.append(
            f"cannot-answer/blocked score {g[0]:.2f} → {g[1]:.2f} over {g[2]} cases: within "
            f"the tolerance {gate.tolerance:.2f}"
        )
    return Decision(ok, reasons, h, g, regressed)
