"""The judge's criteria for an answer about the books: one claim each.

Code gives each question only what bears on it: the question and the date it was asked
(which period does it ask about? — a blind choice, the answer's period not shown), the
question (what does it ask the total of? — a blind choice among this tenant's accounts and
vendors, "all spending" and "none of these"), one figure and the tool total for its period
(the same amount?), and for "cannot answer" the question again (is what it asks about
something the books do not hold?).
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


def _amount(value: Any, currency: str) -> str:
    """A tool's decimal amount written as the claim's are (``455.02`` → ``$455.02``)."""
    try:
        return _money(int(Decimal(str(value)) * 100), currency)
    except (ArithmeticError, ValueError):
        return str(value)


def _figures(output: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [f for f in output.get("figures") or () if isinstance(f, Mapping)]


def _neighbours(label: str) -> list[str]:
    """The period before and after ``label``, of the same kind (year, quarter, month)."""
    year = int(label[:4])
    if len(label) == 4:
        return [str(year - 1), str(year + 1)]
    if "Q" in label:
        n = year * 4 + int(label[-1]) - 1
        return [f"{m // 4}-Q{m % 4 + 1}" for m in (n - 1, n + 1)]
    n = year * 12 + int(label[5:]) - 1
    return [f"{m // 12}-{m % 12 + 1:02d}" for m in (n - 1, n + 1)]


def _spelled(labels: Sequence[str]) -> str:
    """``2026-Q2 (2026-04-01 to 2026-06-30)``; several joined by "and"."""
    parts = []
    for label in labels:
        period = parse(label)
        parts.append(f"{label} ({period.start} to {period.end})" if period else label)
    return " and ".join(parts)


def period_matches(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence]
) -> list[Ask | Decided]:
    """A blind choice: the answer's period(s), the periods either side of each, their year
    (and the answer's periods together when several): met when the model reads the
    question as asking about the answer's."""
    periods = [str(p) for p in output.get("periods") or ()]
    if not output.get("can_answer") or not periods or any(parse(p) is None for p in periods):
        return []
    singles = {*periods, *(n for p in periods for n in _neighbours(p)), periods[0][:4]}
    options = sorted(_spelled([p]) for p in singles)
    expected = _spelled(periods)
    if len(periods) > 1:
        options.append(expected)
    return [Ask(f"The answer is about {expected}.",
                {"question": str(event.get("question", "")), "asked on": _asked(event)},
                options=tuple(options), expected=(expected,))]  # fmt: skip


NOT_HELD = "none of these: a forecast or future period, another company, or data not in the books"
ALL_SPENDING = "all spending"


def _subjects(evidence: Sequence[ToolEvidence]) -> tuple[str, ...]:
    accounts = _named(evidence, "listAccounts", "accounts", "code")
    vendors = _named(evidence, "listVendors", "vendors", "vendor_id")
    return (*(f"account: {n}" for n in accounts.values()),
            *(f"vendor: {n}" for n in vendors.values()), ALL_SPENDING, NOT_HELD)  # fmt: skip


def subject_matches(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence]
) -> list[Ask | Decided]:
    """A blind choice among this tenant's accounts and vendors (and "all spending", and
    "none of these"): met when the model reads the question as asking about what the answer
    totals (a vendor's total also reads as its default account's)."""
    if not output.get("can_answer"):
        return []
    filters = output.get("filters") or {}
    if not _results(evidence, "listAccounts") and not _results(evidence, "listVendors"):
        return []  # no chart and no vendor list read: no subjects to choose from
    accounts = _named(evidence, "listAccounts", "accounts", "code")
    vendors = {
        str(v.get("vendor_id")): v
        for e in _results(evidence, "listVendors")
        for v in e.result.get("vendors") or ()
        if isinstance(v, Mapping)
    }
    expected: list[str] = []
    if "vendor_id" in filters and str(filters["vendor_id"]) in vendors:
        vendor = vendors[str(filters["vendor_id"])]
        expected.append(f"vendor: {vendor.get('name')}")
        if str(vendor.get("default_category")) in accounts:
            expected.append(f"account: {accounts[str(vendor.get('default_category'))]}")
    if "category" in filters and str(filters["category"]) in accounts:
        expected.append(f"account: {accounts[str(filters['category'])]}")
    if not filters:
        expected.append(ALL_SPENDING)
    if not expected:
        return [Decided("no", f"it filters by {filters}, which no tool result names")]
    options = tuple(dict.fromkeys(_subjects(evidence)))
    return [Ask(f"The answer totals {' / '.join(expected)}.",
                {"question": str(event.get("question", ""))},
                options=options, expected=tuple(e for e in expected if e in options))]  # fmt: skip


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
        return (f"total {_amount(r.get('total'), str(r.get('currency', 'USD')))} of {count} "
                f"transactions, {r.get('date_from')} to {r.get('date_to')}")  # fmt: skip

    if matching:
        return [shown(e) for e in matching[:4]]
    cited = {str(i) for i in figure.get("record_ids") or ()}
    rows = [
        f"{t.get('transaction_id')}: {_amount(t.get('amount'), str(t.get('currency', 'USD')))}"
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
    """The same blind choice as ``subject_matches``: met when the model reads the question as
    asking about something the books do not hold."""
    if output.get("can_answer"):
        return []
    slice_ = {
        "question": str(event.get("question", "")),
        "asked on": _asked(event),
        "what the tools read": WHAT_THE_TOOLS_READ,
    }
    claim = f"The books cannot answer the question: {output.get('reason') or ''}"
    return [Ask(claim, slice_, options=tuple(dict.fromkeys(_subjects(evidence))),
                expected=(NOT_HELD,))]  # fmt: skip


CRITERIA = Criteria((
    Criterion(
        "period_matches",
        "Which period does the question ask about?",
        period_matches,
    ),
    Criterion(
        "subject_matches",
        "What does the question ask the total of?",
        subject_matches,
    ),
    Criterion(
        "figure_is_tool_total",
        "Is the claimed amount the same amount of money as the tool's total?",
        figure_is_tool_total,
    ),
    Criterion(
        "cannot_answer_justified",
        "What does the question ask the total of?",
        cannot_answer_justified,
    ),
))  # fmt: skip
