"""Deterministic checks of an agent's output against the evidence its tools returned.

Each check returns a :class:`CheckResult`; the daemon turns a list of them into a verdict.
They look only at the output and at what the tools actually returned in *this* run (which the
API scoped to the event's tenant), so a number or id the model made up — or copied from
another tenant — has nothing to stand on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# A bearer/JWT token, a provider key, a private key block, or a password assignment.
_SECRET = re.compile(
    r"(eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"
    r"|\bBearer\s+[A-Za-z0-9._~+/-]{16,}"
    r"|\bsk-[A-Za-z0-9_-]{16,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    r"|\b(?:password|passwd|secret|api[_-]?key)\s*[:=]\s*\S{6,})",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"-?\d+(?:[.,]\d+)*")


@dataclass(frozen=True)
class CheckResult:
    name: str
    passed: bool
    detail: str = ""

    def as_datum(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail[:500]}


@dataclass(frozen=True)
class ToolEvidence:
    """One tool call of the run as the runtime saw it (not as the model described it)."""

    tool: str
    arguments: dict[str, Any]
    result: Any
    error: str | None = None


def evidence_text(evidence: Sequence[ToolEvidence]) -> str:
    return "\n".join(json.dumps(e.result, default=str, sort_keys=True) for e in evidence)


def evidence_numbers(evidence: Sequence[ToolEvidence]) -> set[Decimal]:
    """Every number in the tool results (strings like "18.75" included)."""
    numbers: set[Decimal] = set()
    for match in _NUMBER.findall(evidence_text(evidence)):
        try:
            numbers.add(Decimal(match.replace(",", "")))
        except InvalidOperation:
            continue
    return numbers


def numeric_grounding(
    amounts_minor: Iterable[int], evidence: Sequence[ToolEvidence]
) -> CheckResult:
    """Every amount (in minor units) in the output appears in a tool result — as cents or as
    the decimal amount — so no figure comes from the model's own arithmetic."""
    known = evidence_numbers(evidence)
    missing = [
        a for a in amounts_minor if Decimal(a) not in known and Decimal(a) / 100 not in known
    ]
    if missing:
        return CheckResult("numeric_grounding", False, f"amounts not in tool results: {missing}")
    return CheckResult("numeric_grounding", True, "every amount appears in a tool result")


def ids_grounded(ids: Iterable[str], evidence: Sequence[ToolEvidence]) -> CheckResult:
    """Every record id the output cites was returned by this run's tenant-scoped tools, so no
    id of another tenant (or an invented one) can appear."""
    text = evidence_text(evidence)
    unknown = sorted({i for i in ids if i and i not in text})
    if unknown:
        return CheckResult("tenant_scoped_ids", False, f"ids not returned by tools: {unknown}")
    return CheckResult("tenant_scoped_ids", True, "every cited id came from this tenant's data")


def no_secrets(output: Any) -> CheckResult:
    """Nothing that looks like a credential leaves in an output."""
    found = _SECRET.search(json.dumps(output, default=str))
    if found:
        return CheckResult("no_secrets", False, f"secret-like text at char {found.start()}")
    return CheckResult("no_secrets", True, "no secret-like text")


def output_schema(name: str) -> CheckResult:
    """Recorded for completeness: the agent loop only returns outputs that validated."""
    return CheckResult("output_schema", True, f"validated against {name}")
