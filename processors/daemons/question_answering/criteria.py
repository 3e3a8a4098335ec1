"""The judge's criteria for an answer about the books: one claim each.

Code gives each question only what bears on it: the question and the date it was asked (does
the answer's period match?), the question and what the answer totals (the same subject?),
one figure and the tool total for its period (the same amount?), and, for "cannot answer",
the question beside the accounts and vendors the tools can reach (is it really unanswerable?).
Figure questions do not apply to "cannot answer", nor the refusal question to an answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from itertools import permutations
from typing import Any

from processors.daemons.question_answering.periods import parse
from processors.guardrails.criteria import Ask, Criteria, Criterion, Decided
from processors.tools.evidence import ToolEvidence

WHAT_THE_TOOLS_READ = (
    "this company's own ledger only: its past transactions, with totals of spending by "
    "account, vendor and date range"
)


def _results(evidence: Sequence[ToolEvidence], tool: str) -> list[ToolEvidence]:
    return [e for e in evidence if e.tool == tool and isinstance(e.result, Mapping)]


def _named(evidence: Sequence[ToolEvidence], tool: str, key: str, id_key: str) -> dict[str, str]:
    return {
        str(r.get(id_key)): str(r.get("name"))
        for e in _results(evidence, tool)
        for r in e.result.get(key) or ()
        if isinstance(r, Mapping)
    }


def _asked(event: Mapping[str, Any]) -> str:
    return str(event.get("occurred_at", ""))[:10]


def _money(amount_minor: int, currency: str) -> str:
    body = f"{Decimal(amount_minor) / 100:,.2f}"
    return f"${body}" if currency == "USD" else f"{body} {currency}"


def _figures(output: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [f for f in output.get("figures") or () if isinstance(f, Mapping)]


def period_matches(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence]
) -> list[Ask | Decided]:
    periods = [str(p) for p in output.get("periods") or ()]
    if not output.get("can_answer") or not periods:
        return []
    shown = []
    for label in periods:
        period = parse(label)
        shown.append(f"{label} ({period.start} to {period.end})" if period else label)
    return [Ask(f"The answer is about {' and '.join(shown)}.",
                {"question": str(event.get("question", "")),
                 "asked on": _asked(event)})]  # fmt: skip


def subject_matches(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence]
) -> list[Ask | Decided]:
    if not output.get("can_answer"):
        return []
    filters = output.get("filters") or {}
    accounts = _named(evidence, "listAccounts", "accounts", "code")
    vendors = _named(evidence, "listVendors", "vendors", "vendor_id")
    parts = []
    if "category" in filters:
        code = str(filters["category"])
        parts.append(f"account {code} ({accounts.get(code, 'not in the chart')})")
    if "vendor_id" in filters:
        vendor = str(filters["vendor_id"])
        parts.append(f"vendor {vendors.get(vendor, vendor)}")
    totals = " and ".join(parts) or "all spending"
    return [Ask(f"{output.get('answer', '')} (It totals: {totals}.)",
                {"question": str(event.get("question", ""))})]  # fmt: skip


def _differences(figures: Sequence[Mapping[str, Any]]) -> set[int]:
    """Indexes of figures that are another two's difference (code computed them)."""
    amounts = [int(f.get("amount_minor") or 0) for f in figures]
    return {
        k
        for k, amount in enumerate(amounts)
        for i, j in permutations(range(len(amounts)), 2)
        if k not in (i, j) and amounts[i] - amounts[j] == amount and amount != 0
    }


def _total_for(figure: Mapping[str, Any], periods: Sequence[str],
               evidence: Sequence[ToolEvidence]) -> list[str]:  # fmt: skip
    """The tool totals that bear on one figure: the aggregate of its period (named in its
    label, or the answer's only period), else every aggregate; else the transactions it
    cites, as the tool returned them."""
    label = str(figure.get("label", ""))
    aggregates = _results(evidence, "aggregateSpend")
    named = [p for p in periods if p in label] or (list(periods) if len(periods) == 1 else [])
    ranges = {(str(p.start), str(p.end)) for label_ in named if (p := parse(label_))}
    matching = [
        e for e in aggregates
        if (str(e.arguments.get("date_from")), str(e.arguments.get("date_to"))) in ranges
    ] or aggregates  # fmt: skip

    def shown(e: ToolEvidence) -> str:
        r = e.result
        count = len(r.get("transaction_ids") or ())
        return (f"total {r.get('total')} {r.get('currency', '')} of {count} transactions, "
                f"{r.get('date_from')} to {r.get('date_to')}")  # fmt: skip

    if matching:
        return [shown(e) for e in matching[:4]]
    cited = {str(i) for i in figure.get("record_ids") or ()}
    rows = [
        f"{t.get('transaction_id')}: {t.get('amount')} {t.get('currency', '')}"
        for e in _results(evidence, "listTransactions")
        for t in e.result.get("transactions") or ()
        if isinstance(t, Mapping) and str(t.get("transaction_id")) in cited
    ]
    return ["transactions cited: " + "; ".join(rows)] if rows else []


def figure_is_tool_total(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence]
) -> list[Ask | Decided]:
    if not output.get("can_answer"):
        return []
    figures = _figures(output)
    computed = _differences(figures)
    periods = [str(p) for p in output.get("periods") or ()]
    asks: list[Ask | Decided] = []
    for n, figure in enumerate(figures, 1):
        if n - 1 in computed:
            continue
        label = f"figure {n}"
        totals = _total_for(figure, periods, evidence)
        if not totals:
            asks.append(Decided("no", "no tool returned a total or record for it", label))
            continue
        amount = _money(int(figure.get("amount_minor") or 0), str(figure.get("currency", "USD")))
        asks.append(Ask(f"{figure.get('label', '')}: {amount}",
                        {"tool result": "\n".join(totals)}, label))  # fmt: skip
    return asks


def cannot_answer_justified(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence]
) -> list[Ask | Decided]:
    if output.get("can_answer"):
        return []
    accounts = _named(evidence, "listAccounts", "accounts", "code")
    vendors = _named(evidence, "listVendors", "vendors", "vendor_id")
    slice_ = {
        "question": str(event.get("question", "")),
        "asked on": _asked(event),
        "what the tools read": WHAT_THE_TOOLS_READ,
        "accounts": ", ".join(accounts.values()) or "(not read)",
        "vendors": ", ".join(vendors.values()) or "(not read)",
    }
    return [Ask(f"The books cannot answer the question: {output.get('reason') or ''}", slice_)]


CRITERIA = Criteria((
    Criterion(
        "period_matches",
        "Is the period in the claim exactly the period the question asks about?",
        period_matches,
    ),
    Criterion(
        "subject_matches",
        "Does the claim answer what the question asks about (the same account, vendor or kind "
        "of money)?",
        subject_matches,
    ),
    Criterion(
        "figure_is_tool_total",
        "Is the claimed amount the same amount of money as the tool's total?",
        figure_is_tool_total,
    ),
    Criterion(
        "cannot_answer_justified",
        "Is it true that the question cannot be answered from what the tools read?",
        cannot_answer_justified,
    ),
))  # fmt: skip
