"""Tie the figures a model cites to what the tools really returned, and do the arithmetic.

A *source* is a number a tool returned together with the records behind it: a group or the
total of an ``aggregateSpend`` report (``total`` + ``transaction_ids``), or one transaction
(``amount`` + ``transaction_id``). :func:`resolve` matches each cited figure to a source and
takes the amount and ids from the source, not from the model; a figure with a null amount
is the code's sum of its cited transactions; a difference is the code's subtraction of two
resolved figures. Whatever cannot be tied to a source is kept (so the checks can show it)
with a ``problem``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from processors.daemons.question_answering.models import CitedFigure, QuestionAnswer
from processors.tools.evidence import ToolEvidence

Origin = Literal["tool", "code_sum", "code_difference", "model"]
_FILTER_ARGUMENTS = ("category", "vendor_id", "descriptor")


@dataclass(frozen=True)
class Source:
    """A number one tool call returned, with the ids of the records it covers."""

    amount: Decimal
    currency: str
    record_ids: tuple[str, ...]
    arguments: Mapping[str, Any]


@dataclass(frozen=True)
class ResolvedFigure:
    """A figure as it will be published: amount and ids from tools or code, never the model
    (unless ``origin == "model"``, which always comes with a ``problem``)."""

    label: str
    amount_minor: int
    currency: str
    record_ids: tuple[str, ...]
    origin: Origin
    arguments: tuple[Mapping[str, Any], ...] = ()
    operands_minor: tuple[int, ...] = ()  # the grounded amounts a code sum was made of
    problem: str | None = None

    @property
    def amount(self) -> Decimal:
        return Decimal(self.amount_minor) / 100

    def as_datum(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "record_ids": list(self.record_ids),
        }


@dataclass(frozen=True)
class Resolution:
    """The cited figures tied to the evidence, the code-computed difference (if asked) and
    every problem found on the way (empty: everything traced)."""

    figures: tuple[ResolvedFigure, ...]
    difference: ResolvedFigure | None = None
    problems: tuple[str, ...] = field(default=())

    @property
    def all_figures(self) -> tuple[ResolvedFigure, ...]:
        extra = (self.difference,) if self.difference is not None else ()
        return self.figures + extra


def parse_amount(text: str) -> Decimal | None:
    """``"$1,234.50"`` → ``Decimal("1234.50")``; anything else that is not a number → None."""
    cleaned = text.strip().replace("$", "").replace(",", "").replace("USD", "").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def to_minor(amount: Decimal) -> int:
    """Exact conversion to cents; the ledger's amounts have at most two decimals."""
    return int((amount * 100).to_integral_value())


def sources(evidence: Sequence[ToolEvidence]) -> list[Source]:
    """Every (amount, records) pair in the successful tool results, in call order."""
    found: list[Source] = []
    for item in evidence:
        if item.error is None:
            found.extend(_walk(item.result, item.arguments, "USD"))
    return found


def _walk(node: Any, arguments: Mapping[str, Any], currency: str) -> Iterator[Source]:
    if isinstance(node, list):
        for child in node:
            yield from _walk(child, arguments, currency)
        return
    if not isinstance(node, dict):
        return
    currency = str(node.get("currency") or currency)
    if "total" in node and isinstance(node.get("transaction_ids"), list):
        amount = parse_amount(str(node["total"]))
        if amount is not None:
            ids = tuple(str(i) for i in node["transaction_ids"])
            yield Source(amount, currency, ids, arguments)
    if "transaction_id" in node and "amount" in node:
        amount = parse_amount(str(node["amount"]))
        if amount is not None:
            yield Source(amount, currency, (str(node["transaction_id"]),), arguments)
    for key, child in node.items():
        if isinstance(child, dict | list) and key != "transaction_ids":
            yield from _walk(child, arguments, currency)


def resolve(answer: QuestionAnswer, evidence: Sequence[ToolEvidence]) -> Resolution:
    """Tie every cited figure (and the difference) to the tool evidence."""
    known = sources(evidence)
    records = {s.record_ids[0]: s for s in known if len(s.record_ids) == 1}
    figures = tuple(_resolve_one(f, known, records) for f in answer.figures)
    problems = [f"{f.label!r}: {f.problem}" for f in figures if f.problem]
    difference = None
    if answer.difference is not None:
        d = answer.difference
        difference = _subtract(d.label, figures[d.first - 1], figures[d.second - 1])
        if difference.problem:
            problems.append(f"difference {d.label!r}: {difference.problem}")
    return Resolution(figures, difference, tuple(problems))


def _resolve_one(
    figure: CitedFigure, known: list[Source], records: Mapping[str, Source]
) -> ResolvedFigure:
    cited = tuple(dict.fromkeys(figure.record_ids))
    if figure.amount is None:
        return _code_sum(figure.label, cited, known, records)
    amount = parse_amount(figure.amount)
    if amount is None:
        return _unresolved(
            figure.label, Decimal(0), cited, f"amount {figure.amount!r} is no number"
        )
    same_amount = [s for s in known if s.amount == amount]
    if same_amount:
        best = max(same_amount, key=lambda s: (set(s.record_ids) == set(cited), _overlap(s, cited)))
        stray = sorted(set(cited) - set(best.record_ids))
        if stray:
            return _from_source(figure.label, best, f"records {stray} are not behind {amount}")
        return _from_source(figure.label, best, None)
    same_ids = [s for s in known if cited and set(s.record_ids) == set(cited)]
    if same_ids:
        problem = f"amount {amount} differs from the tool's {same_ids[0].amount} for these records"
        return _from_source(figure.label, same_ids[0], problem)
    summed = _code_sum(figure.label, cited, known, records)
    if summed.problem is None and summed.amount == amount:
        return summed
    return _unresolved(figure.label, amount, cited, f"amount {amount} is not in any tool result")


def _code_sum(
    label: str, cited: tuple[str, ...], known: list[Source], records: Mapping[str, Source]
) -> ResolvedFigure:
    exact = [s for s in known if cited and set(s.record_ids) == set(cited)]
    if exact:
        return _from_source(label, exact[0], None)
    if not cited:
        return _unresolved(label, Decimal(0), cited, "no amount and no records to add up")
    missing = [i for i in cited if i not in records]
    if missing:
        return _unresolved(label, Decimal(0), cited, f"records {missing} have no tool amount")
    rows = [records[i] for i in cited]
    currencies = {r.currency for r in rows}
    if len(currencies) > 1:
        return _unresolved(label, Decimal(0), cited, f"mixed currencies {sorted(currencies)}")
    return ResolvedFigure(
        label=label,
        amount_minor=sum(to_minor(r.amount) for r in rows),
        currency=rows[0].currency,
        record_ids=cited,
        origin="code_sum",
        arguments=tuple(r.arguments for r in rows),
        operands_minor=tuple(to_minor(r.amount) for r in rows),
    )


def _subtract(label: str, first: ResolvedFigure, second: ResolvedFigure) -> ResolvedFigure:
    problem = None
    if first.origin == "model" or second.origin == "model":
        problem = "an operand is not grounded in tool results"
    elif first.currency != second.currency:
        problem = f"cannot subtract {second.currency} from {first.currency}"
    return ResolvedFigure(
        label=label,
        amount_minor=first.amount_minor - second.amount_minor,
        currency=first.currency,
        record_ids=tuple(dict.fromkeys(first.record_ids + second.record_ids)),
        origin="code_difference",
        arguments=first.arguments + second.arguments,
        problem=problem,
    )


def _from_source(label: str, source: Source, problem: str | None) -> ResolvedFigure:
    return ResolvedFigure(
        label=label,
        amount_minor=to_minor(source.amount),
        currency=source.currency,
        record_ids=source.record_ids,
        origin="tool",
        arguments=(source.arguments,),
        problem=problem,
    )


def _unresolved(
    label: str, amount: Decimal, cited: tuple[str, ...], problem: str
) -> ResolvedFigure:
    return ResolvedFigure(label, to_minor(amount), "USD", cited, "model", problem=problem)


def _overlap(source: Source, cited: tuple[str, ...]) -> int:
    return len(set(source.record_ids) & set(cited))


def applied_filters(resolution: Resolution, stated: Mapping[str, str]) -> dict[str, str]:
    """The filters the tool calls behind the figures really applied; what the model states is
    kept only for keys no tool call speaks to."""
    found: dict[str, list[str]] = {}
    for figure in resolution.all_figures:
        for arguments in figure.arguments:
            for name in _FILTER_ARGUMENTS:
                value = arguments.get(name)
                if value and str(value) not in found.setdefault(name, []):
                    found[name].append(str(value))
    filters = {k: ",".join(v) for k, v in found.items() if v}
    return {**{k: v for k, v in stated.items() if k not in filters}, **filters}


def applied_periods(resolution: Resolution, stated: Sequence[str]) -> list[str]:
    """The model's period labels, else the date ranges of the tool calls behind the figures."""
    if stated:
        return list(dict.fromkeys(p.strip() for p in stated if p.strip()))
    ranges: list[str] = []
    for figure in resolution.all_figures:
        for arguments in figure.arguments:
            start, end = arguments.get("date_from"), arguments.get("date_to")
            if start or end:
                ranges.append(f"{start or '…'}..{end or '…'}")
    return list(dict.fromkeys(ranges))
