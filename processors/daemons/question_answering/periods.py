"""The periods a question may mean, read by code from its words and the date it was asked.

A period is a label the model can copy and code can turn back into dates: ``2026`` (a
year), ``2026-Q3`` (a quarter), ``2026-07`` (a month). :func:`candidates` lists the ones a
question names, in the order it names them ("Q3 than Q2" → ``2026-Q3``, ``2026-Q2``); the model
chooses among them and :func:`parse` turns its choice into dates. A period without a year takes
the year the question names, else the year it was asked in, else (when that period had not
begun when it was asked) the year before. Pure: no clock, no I/O.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

LABEL_PATTERN = r"^[0-9]{4}(-Q[1-4]|-0[1-9]|-1[0-2])?$"
"""What a period label looks like (the answer schema's pattern; llama.cpp grammars know no
``\\d``)."""

MONTH_NAMES = tuple(name for name in calendar.month_name if name)
_MONTHS = {name.casefold(): n for n, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.casefold(): n for n, name in enumerate(calendar.month_abbr) if name}
_ORDINAL = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4,
            "4th": 4}  # fmt: skip
_YEAR = r"(?:19|20)\d{2}"
_TOKENS = re.compile(
    rf"\b(?P<iso_q>{_YEAR})-?Q(?P<iso_qn>[1-4])\b"
    rf"|\b(?P<iso_m>{_YEAR})-(?P<iso_mn>0[1-9]|1[0-2])\b"
    rf"|\bQ(?P<q>[1-4])(?:\s*,?\s*(?:of\s+)?(?P<q_year>{_YEAR}))?\b"
    rf"|\b(?P<ord>{'|'.join(_ORDINAL)})\s+quarter(?:\s+(?:of\s+)?(?P<ord_year>{_YEAR}))?\b"
    rf"|\b(?P<month>{'|'.join(sorted(_MONTHS, key=len, reverse=True))})\.?"
    rf"(?:\s+(?:of\s+)?(?P<m_year>{_YEAR}))?\b"
    r"|\b(?P<rel>this|last|next|previous|current)\s+(?P<unit>year|quarter|month)\b"
    rf"|\b(?P<year>{_YEAR})\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Period:
    """A labelled date range, both ends included."""

    label: str
    start: dt.date
    end: dt.date

    def describe(self, asked_on: dt.date) -> str:
        """``2026-Q3``, marked when it had not begun or not ended when the question was asked."""
        if self.start > asked_on:
            return f"{self.label} (the future: no data)"
        if self.end > asked_on:
            return f"{self.label} (not over yet)"
        return self.label


def year(y: int) -> Period:
    return Period(str(y), dt.date(y, 1, 1), dt.date(y, 12, 31))


def quarter(y: int, q: int) -> Period:
    first = 3 * (q - 1) + 1
    end = dt.date(y, first + 2, calendar.monthrange(y, first + 2)[1])
    return Period(f"{y}-Q{q}", dt.date(y, first, 1), end)


def month(y: int, m: int) -> Period:
    return Period(f"{y}-{m:02d}", dt.date(y, m, 1), dt.date(y, m, calendar.monthrange(y, m)[1]))


def parse(label: str) -> Period | None:
    """A period label → its dates; anything else → None."""
    text = label.strip()
    if not re.fullmatch(LABEL_PATTERN, text):
        return None
    y = int(text[:4])
    if len(text) == 4:
        return year(y)
    if text[5] == "Q":
        return quarter(y, int(text[6]))
    return month(y, int(text[5:7]))


def asked_on(event: Mapping[str, Any]) -> dt.date:
    """The date the question was asked (the event's ``occurred_at``, a datetime or ISO text)."""
    value = event.get("occurred_at")
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float):  # epoch milliseconds, as Avro's timestamp-millis
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC).date()
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()
    except ValueError:
        return dt.date.today()  # an event without a usable date: today, as the reader would


def candidates(question: str, asked: dt.date) -> list[Period]:
    """The periods ``question`` names, in its order, each once."""
    named_years = [int(m) for m in re.findall(rf"\b{_YEAR}\b", question)]
    default_year = named_years[0] if len(set(named_years)) == 1 else None
    found: list[Period] = []
    for match in _TOKENS.finditer(question):
        groups = {k: v for k, v in match.groupdict().items() if v is not None}
        period = _period(groups, default_year, asked)
        if period is not None and period not in found:
            found.append(period)
    # a bare year that only qualified a quarter or month ("Q2 2026") is no period of its own
    finer = {p.label[:4] for p in found if len(p.label) > 4}
    return [p for p in found if len(p.label) > 4 or p.label not in finer]


def _period(groups: Mapping[str, str], default_year: int | None, asked: dt.date) -> Period | None:
    def in_year(explicit: str | None, make: Any) -> Period:
        if explicit:
            return make(int(explicit))  # type: ignore[no-any-return]
        if default_year is not None:
            return make(default_year)  # type: ignore[no-any-return]
        this = make(asked.year)
        return this if this.start <= asked else make(asked.year - 1)  # type: ignore[no-any-return]

    if "iso_q" in groups:
        return quarter(int(groups["iso_q"]), int(groups["iso_qn"]))
    if "iso_m" in groups:
        return month(int(groups["iso_m"]), int(groups["iso_mn"]))
    if "q" in groups:
        return in_year(groups.get("q_year"), lambda y: quarter(y, int(groups["q"])))
    if "ord" in groups:
        n = _ORDINAL[groups["ord"].casefold()]
        return in_year(groups.get("ord_year"), lambda y: quarter(y, n))
    if "month" in groups:
        word = groups["month"].casefold()
        if word in ("may", "mar") and "m_year" not in groups and default_year is None:
            return None  # "may" is a verb far more often than a month without its year
        return in_year(groups.get("m_year"), lambda y: month(y, _MONTHS[word]))
    if "rel" in groups:
        return _relative(groups["rel"].casefold(), groups["unit"].casefold(), asked)
    if "year" in groups:
        return year(int(groups["year"]))
    return None


def _relative(which: str, unit: str, asked: dt.date) -> Period:
    step = {"last": -1, "previous": -1, "next": 1}.get(which, 0)
    if unit == "year":
        return year(asked.year + step)
    if unit == "quarter":
        index = asked.year * 4 + (asked.month - 1) // 3 + step
        return quarter(index // 4, index % 4 + 1)
    index = asked.year * 12 + asked.month - 1 + step
    return month(index // 12, index % 12 + 1)


def notes(event: Mapping[str, Any]) -> str:
    """What the model reads under the question: the candidate periods (the use case's
    ``task_notes``)."""
    asked = asked_on(event)
    found = candidates(str(event.get("question", "")), asked)
    if not found:
        return "Candidate periods: none."
    return f"Candidate periods: {', '.join(p.describe(asked) for p in found)}."
