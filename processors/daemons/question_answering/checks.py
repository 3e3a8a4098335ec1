"""Deterministic checks of an answer against this run's tool evidence.

- ``numeric_grounding``: every tool-sourced amount (and every operand of a code sum) is in a
  tool result; code differences are of grounded figures only (``figures_traced``).
- ``figures_traced``: each cited figure matched a tool result (amount and record ids agree).
- ``tenant_scoped_ids``: every record id cited or published was returned by a tool.
- ``answer_numbers``: every number in the answer text is a figure, the count of a figure's
  records, or in a period/filter.
- ``answer_rests_on_data``: an answer (``can_answer``) comes after at least one successful
  tool call.
- ``tool_calls_scoped``: every tool call passed the event's tenant as ``tenant_id``.

Memory's reads (the recalled worked examples) are left out of the evidence: they ground
nothing, and they take no tenant argument (the store filters by the call's tenant).

They demote nothing: the answer is published whole or not at all. ``to_output`` resolves the
answer against the same evidence (:func:`~.evidence.resolve`), so it publishes the amounts
and ids the tools returned rather than the model's copy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from processors.daemons.question_answering.evidence import Resolution, resolve
from processors.daemons.question_answering.models import DIFFERENCE_PLACEHOLDER, QuestionAnswer
from processors.daemons.usecase import Checked
from processors.guardrails.checks import CheckResult, ids_grounded, numeric_grounding
from processors.tools.evidence import ToolEvidence
from processors.tools.memory import TOOL_NAMES as MEMORY_TOOLS

# Tokens whose digits are not amounts: ids (tx-q-003, v-r-01), ISO dates and months,
# quarters/halves (Q3, H1, FY2026) and years.
_NOT_AMOUNTS = re.compile(
    r"\b[A-Za-z]+(?:-[A-Za-z0-9]+)+\b"
    r"|\b\d{4}-\d{2}(?:-\d{2})?\b"
    r"|\b(?:Q[1-4]|H[12]|FY\s?\d{2,4})\b"
    r"|(?<![$.,\d])\b(?:19|20)\d{2}\b(?![.,]\d)",
    re.IGNORECASE,
)
_AMOUNT = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


def checks(
    output: QuestionAnswer, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]
) -> Checked[QuestionAnswer]:
    """The use case's checks of ``output`` (returned as it is: nothing to demote). What memory
    recalled (worked examples) grounds nothing: the ledger's reads of this run do."""
    evidence = [e for e in evidence if e.tool not in MEMORY_TOOLS]
    resolution = resolve(output, evidence)
    return Checked(output, [
        numeric_grounding(_grounded_amounts(resolution), evidence),
        _figures_traced(resolution),
        ids_grounded(_cited_ids(output, resolution), evidence),
        answer_numbers(output, resolution),
        _rests_on_data(output, evidence),
        tool_calls_scoped(evidence, str(event["tenant_id"])),
    ])  # fmt: skip


def _grounded_amounts(resolution: Resolution) -> list[int]:
    amounts: list[int] = []
    for figure in resolution.figures:
        if figure.origin == "code_sum":
            amounts.extend(figure.operands_minor)
        else:  # "tool", or "model" (which then fails here, as it should)
            amounts.append(abs(figure.amount_minor))
    return amounts


def _figures_traced(resolution: Resolution) -> CheckResult:
    if resolution.problems:
        return CheckResult("figures_traced", False, "; ".join(resolution.problems))
    kinds = sorted({f.origin for f in resolution.all_figures})
    detail = f"{len(resolution.all_figures)} figure(s) from {', '.join(kinds) or 'nothing'}"
    return CheckResult("figures_traced", True, detail)


def _cited_ids(output: QuestionAnswer, resolution: Resolution) -> list[str]:
    cited = [i for f in output.figures for i in f.record_ids]
    return cited + [i for f in resolution.all_figures for i in f.record_ids]


def answer_numbers(output: QuestionAnswer, resolution: Resolution) -> CheckResult:
    """Every number in the answer text is one of the figures' amounts (any decimal form,
    sign ignored), the count of a figure's records ("3 payments") or appears in a period or
    filter; dates, quarters, years and ids are not amounts."""
    allowed = {abs(f.amount) for f in resolution.all_figures}
    allowed.update(Decimal(len(f.record_ids)) for f in resolution.figures if f.record_ids)
    for text in [*output.periods, *output.filters.values()]:
        allowed.update(_numbers(text))
    strays = sorted({n for n in _numbers(_NOT_AMOUNTS.sub(" ", output.answer))} - allowed)
    if DIFFERENCE_PLACEHOLDER in output.answer and output.difference is None:
        return CheckResult("answer_numbers", False, "answer uses {difference} but names none")
    if strays:
        return CheckResult(
            "answer_numbers", False, f"numbers in the answer that are no figure: {strays}"
        )
    return CheckResult("answer_numbers", True, "every number in the answer is a figure")


def _numbers(text: str) -> set[Decimal]:
    return {Decimal(m.replace(",", "")) for m in _AMOUNT.findall(text)}


def _rests_on_data(output: QuestionAnswer, evidence: Sequence[ToolEvidence]) -> CheckResult:
    succeeded = sum(1 for e in evidence if e.error is None)
    if output.can_answer and not succeeded:
        return CheckResult("answer_rests_on_data", False, "answered without any tool result")
    return CheckResult("answer_rests_on_data", True, f"{succeeded} successful tool call(s)")


def tool_calls_scoped(evidence: Sequence[ToolEvidence], tenant_id: str) -> CheckResult:
    """Every tool call asked for the event's tenant (the API refuses others; this records it).
    Memory's tools take no tenant argument: the store's query filters by the call's tenant."""
    ledger = [e for e in evidence if e.tool not in MEMORY_TOOLS]
    other = sorted({str(e.arguments.get("tenant_id")) for e in ledger} - {tenant_id})
    if other:
        return CheckResult("tool_calls_scoped", False, f"tool calls for other tenants: {other}")
    return CheckResult("tool_calls_scoped", True, f"{len(evidence)} call(s) for {tenant_id}")
