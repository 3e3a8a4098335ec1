"""Run the model's :class:`~.query.Query` through the tools and write the answer by code.

:func:`follow_up` (the use case's ``follow_up``) turns a valid query into the API reads that
answer it — ``aggregateSpend`` for spend and the largest vendor, ``listTransactions`` for money
received and payment counts, one per period — made by the agent loop through the same tools as
every call (the event's tenant and principal, spans, run record, evidence). :func:`resolve` (the
use case's ``resolve``) finds their results in the evidence and builds the
:class:`~.models.QuestionAnswer` the checks check and the daemon publishes: every figure is an
amount a tool returned (or code's sum of the transactions it lists) with the record ids behind
it, a difference of two periods is code's subtraction, and the sentence comes from a template
whose only numbers are those figures. Pure: the same query and evidence give the same answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from processors.agent import Correct
from processors.daemons.question_answering.evidence import parse_amount
from processors.daemons.question_answering.models import (
    DIFFERENCE_PLACEHOLDER,
    CitedFigure,
    Difference,
    QuestionAnswer,
)
from processors.daemons.question_answering.periods import Period, asked_on
from processors.daemons.question_answering.query import Checked, Missing, Query, choices, validate
from processors.llm.model import ToolCall
from processors.tools.evidence import ToolEvidence

LIST_LIMIT = 200  # listTransactions' largest page: a period with more is not summed

REASONS: Mapping[str, str] = {
    "future": "The books hold past transactions only: they cannot tell the future (forecasts, "
    "budgets, what will happen).",
    "payroll": "The books hold no payroll records (salaries, employees).",
    "customers": "The books hold no customer records: incoming payments are lump sums.",
    "other_company": "The books hold only this company's transactions, not another company's.",
    "balances": "The books hold transactions, not account balances.",
    "other": "The books (this company's bank transactions) do not hold the data for that.",
}
UNKNOWN_SUBJECT = (
    "The question names someone or something that is none of this company's accounts or "
    "vendors: its books cannot answer for it."
)


def follow_up(
    query: Query, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]
) -> list[ToolCall] | Correct:
    """The reads that answer ``query`` (none for ``cannot_answer`` or a period that had not
    begun), or a correction naming what this tenant's records allow."""
    checked = validate(query, evidence, event)
    if checked.problem is not None:
        return Correct(
            f"Your query does not fit this tenant's records: {checked.problem}. Reply with the "
            "corrected query only."
        )
    if query.cannot_answer or checked.unknown_subject or _future(checked, event):
        return []
    return calls(checked)


def calls(checked: Checked) -> list[ToolCall]:
    """One read per period (one over all dates when the query names none); the tenant is
    added by the scoped tools, never taken from the query."""
    query = checked.query
    filters: dict[str, Any] = {}
    if checked.category is not None:
        filters["category"] = checked.category
    if checked.vendor_id is not None:
        filters["vendor_id"] = checked.vendor_id
    made = []
    for n, period in enumerate(checked.periods or (None,), 1):
        dates = {}
        if period is not None:
            dates = {"date_from": period.start.isoformat(), "date_to": period.end.isoformat()}
        if query.metric in ("money_paid", "largest_vendor"):
            group = "vendor" if query.by_vendor or query.metric == "largest_vendor" else "category"
            arguments = {"group_by": group, **dates, **filters}
            made.append(ToolCall(id=f"query-{n}", name="aggregateSpend", arguments=arguments))
        else:
            arguments = {**dates, **filters, "limit": LIST_LIMIT}
            made.append(ToolCall(id=f"query-{n}", name="listTransactions", arguments=arguments))
    return made


def _future(checked: Checked, event: Mapping[str, Any]) -> bool:
    asked = asked_on(event)
    return any(p.start > asked for p in checked.periods)


def resolve(
    query: Query, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]
) -> QuestionAnswer:
    """The answer ``query`` stands for, from what its reads returned in this run."""
    if query.cannot_answer:
        return cannot_answer(query.missing)
    checked = validate(query, evidence, event)
    if checked.problem is not None:  # the loop sent it back; only a model out of corrections
        return cannot_answer("other", f"The question did not fit the records: {checked.problem}.")
    if checked.unknown_subject:  # e.g. another company's spend: not a figure of these books
        return cannot_answer("other_company", UNKNOWN_SUBJECT)
    if _future(checked, event):
        return cannot_answer("future")
    results = []
    for call in calls(checked):
        result = _result_of(call, evidence)
        if result is None:
            return cannot_answer("other", "The ledger could not be read for this question.")
        results.append(result)
    subject = _subject(checked, evidence)
    labels = [p.label for p in checked.periods] or ["all dates"]
    filters = {k: v for k, v in (("category", checked.category),
                                 ("vendor_id", checked.vendor_id)) if v}  # fmt: skip
    answer: _Answer | None
    if query.metric in ("money_paid", "largest_vendor"):
        answer = _spend(query, subject, labels, results, choices(evidence).vendor_names)
    else:
        answer = _transactions(query, subject, labels, results)
    if answer is None:
        return cannot_answer("other", "A period holds more transactions than can be summed.")
    text, figures, difference = answer
    return QuestionAnswer(
        can_answer=True,
        answer=text,
        figures=figures,
        difference=difference,
        periods=[p.label for p in checked.periods],
        filters=filters,
    )


def cannot_answer(missing: Missing, reason: str | None = None) -> QuestionAnswer:
    why = reason or REASONS.get(missing, REASONS["other"])
    return QuestionAnswer(can_answer=False, answer=why, reason=why)


def _result_of(call: ToolCall, evidence: Sequence[ToolEvidence]) -> Mapping[str, Any] | None:
    """The last successful result of a read with ``call``'s tool and arguments."""
    for item in reversed(evidence):
        same = item.tool == call.name and all(
            item.arguments.get(k) == v for k, v in call.arguments.items()
        )
        if same and item.error is None and isinstance(item.result, Mapping):
            return item.result
    return None


def _subject(checked: Checked, evidence: Sequence[ToolEvidence]) -> str:
    found = choices(evidence)
    parts = []
    if checked.category is not None:
        parts.append(found.account_names.get(checked.category, checked.category))
    if checked.vendor_id is not None:
        parts.append(f"with {found.vendor_names.get(checked.vendor_id, checked.vendor_id)}")
    return " ".join(parts)


_Answer = tuple[str, list[CitedFigure], Difference | None]


def _spend(
    query: Query,
    subject: str,
    labels: list[str],
    reports: list[Mapping[str, Any]],
    vendor_names: Mapping[str, str],
) -> _Answer:
    figures: list[CitedFigure] = []
    what = f"Spend on {subject}" if subject and not subject.startswith("with") else "Spend"
    if subject.startswith("with"):
        what = f"Spend {subject}"
    if query.metric == "largest_vendor":
        parts = []
        for label, report in zip(labels, reports, strict=True):
            groups = [g for g in report.get("groups", []) if g.get("key") not in (None, "none")]
            if not groups:
                parts.append(f"no spend with a known vendor in {label}")
                continue
            top = max(groups, key=lambda g: parse_amount(str(g.get("total"))) or Decimal(0))
            name = vendor_names.get(str(top["key"]), str(top["key"]))
            figures.append(_figure(f"{name}, {label}", top))
            parts.append(f"{name} was the largest vendor in {label}, with {_money(top)}")
        return f"{_sentence('; '.join(parts))}", figures, None
    for label, report in zip(labels, reports, strict=True):
        figures.append(_figure(f"{what} {label}", report))
    totals = [f"{_money(r)} in {label}" for label, r in zip(labels, reports, strict=True)]
    text = f"{what} was {' and '.join(totals)}"
    difference = None
    if len(reports) == 2:
        difference = Difference(label=f"{labels[0]} minus {labels[1]}", first=1, second=2)
        text += f", a difference of {DIFFERENCE_PLACEHOLDER}"
    if query.by_vendor:
        by = []
        for label, report in zip(labels, reports, strict=True):
            for group in report.get("groups", []):
                key = str(group.get("key"))
                name = "no vendor" if key == "none" else vendor_names.get(key, key)
                figures.append(_figure(f"{name}, {label}", group))
                by.append(f"{name} {_money(group)} ({label})")
        text += f". By vendor: {', '.join(by) if by else 'none'}"
    return _sentence(text), figures, difference


def _transactions(
    query: Query, subject: str, labels: list[str], pages: list[Mapping[str, Any]]
) -> _Answer | None:
    direction = "debit" if query.metric == "payment_count" else "credit"
    figures: list[CitedFigure] = []
    parts = []
    for label, page in zip(labels, pages, strict=True):
        listed = [t for t in page.get("transactions", []) if isinstance(t, Mapping)]
        if int(page.get("total_matching") or 0) > len(listed):
            return None  # a partial page would give a wrong sum
        chosen = [t for t in listed if t.get("direction") == direction]
        if not chosen:
            parts.append(f"none in {label}")
            continue
        total = sum((parse_amount(str(t.get("amount"))) or Decimal(0) for t in chosen), Decimal())
        ids = [str(t["transaction_id"]) for t in chosen]
        # amount null: code adds up the cited transactions again in the checks' resolution
        kind = "Payments" if query.metric == "payment_count" else "Money received"
        figures.append(CitedFigure(label=f"{kind} {label}", amount=None, record_ids=ids))
        if query.metric == "payment_count":
            parts.append(f"{len(chosen)} payments in {label}, {_plain(total)} in all")
        else:
            parts.append(f"{_plain(total)} in {label}")
    if query.metric == "payment_count":
        head = f"Payments {subject}".rstrip() if subject else "Payments"
    else:
        head = f"Money received {subject}".rstrip() if subject else "Money received"
    return _sentence(f"{head}: {'; '.join(parts)}"), figures, None


def _figure(label: str, node: Mapping[str, Any]) -> CitedFigure:
    ids = [str(i) for i in node.get("transaction_ids", [])]
    return CitedFigure(label=label, amount=str(node.get("total")), record_ids=ids)


def _money(node: Mapping[str, Any]) -> str:
    return _plain(parse_amount(str(node.get("total"))) or Decimal(0))


def _plain(amount: Decimal) -> str:
    return f"${amount:,.2f}"


def _sentence(text: str) -> str:
    text = text.strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


__all__ = ["REASONS", "Period", "calls", "cannot_answer", "follow_up", "resolve"]
