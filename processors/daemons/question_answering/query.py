"""What the question-answering model answers: a :class:`Query` — or what data is missing.

The model never writes a number, an id or a sentence. It fills a query: the metric, the account
and the vendor (chosen from this tenant's chart and vendor list, shown to it as enums of their
names: :func:`answer_schema`), the period(s) (chosen from the candidates code read off the
question: :mod:`.periods`) and whether to group by vendor; or, first, the kind of data the
books lack to answer it (``missing``: cannot answer). Code checks the choice against this
tenant's records (:func:`validate`), runs it through the tools and writes the answer
(:mod:`.execute`). The field descriptions are part of the schema the model reads, so they are
written for the model.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from processors.daemons.question_answering import periods as _periods
from processors.tools.evidence import ToolEvidence, rows
from processors.untrusted.fencing import untrusted

Metric = Literal["money_paid", "money_received", "payment_count", "largest_vendor"]
Missing = Literal["none", "future", "payroll", "customers", "other_company", "balances", "other"]
NONE = "none"  # what the model writes for "the question names no account / vendor"

ACCOUNT_TYPES = ("expense", "income")  # what a question about spend or money received names


class Query(BaseModel):
    """A question about the books as a query code can run, or what the books lack to answer
    it (``missing`` other than ``none``: cannot answer)."""

    model_config = ConfigDict(extra="forbid")

    missing: Missing = Field(
        description="none when the books (this company's own payments and receipts) can "
        "answer; else what they lack: future (forecasts, budgets, next year), payroll "
        "(salaries, employees), customers, other_company (another company's books), "
        "balances (bank balances), other."
    )
    metric: Metric = Field(
        description="money_paid: spend, costs, bills, what was paid to someone; "
        "money_received: money that came in; payment_count: how many payments; "
        "largest_vendor: who was paid most."
    )
    account: str | None = Field(
        description="The account the question names (software, rent, green coffee...); "
        "none when it names no account."
    )
    vendor: str | None = Field(
        description="The vendor the question names (a company paid); none when it names none."
    )
    periods: list[str] = Field(
        max_length=2,
        description="The candidate period(s) the question asks about, in its order.",
    )
    by_vendor: bool = Field(description="true when the question asks with whom.")

    @field_validator("account", "vendor", mode="before")
    @classmethod
    def _none_is_null(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().casefold() in ("", NONE, "null"):
            return None
        return value

    @property
    def cannot_answer(self) -> bool:
        return self.missing != NONE


@dataclass(frozen=True)
class Choices:
    """This tenant's accounts and vendors as the model sees them (name → code or id), read
    from the run's ``listAccounts`` and ``listVendors`` results."""

    accounts: Mapping[str, str]  # shown name -> account code
    vendors: Mapping[str, str]  # shown name -> vendor id
    account_names: Mapping[str, str]  # account code -> name
    vendor_names: Mapping[str, str]  # vendor id -> name

    def account(self, chosen: str | None) -> str | None:
        """The account code of a choice (its shown name, or the code itself); None: unknown."""
        if chosen is None:
            return None
        return self.accounts.get(chosen) or (chosen if chosen in self.account_names else None)

    def vendor(self, chosen: str | None) -> str | None:
        """The vendor id of a choice (its shown name, or the id itself); None: unknown."""
        if chosen is None:
            return None
        return self.vendors.get(chosen) or (chosen if chosen in self.vendor_names else None)


def choices(evidence: Sequence[ToolEvidence]) -> Choices:
    """The names the model may choose: each account (of :data:`ACCOUNT_TYPES`) and vendor by
    its name, with its code or id added where two share a name."""
    accounts = [
        (str(a["code"]), str(a["name"]))
        for a in rows(evidence, "listAccounts", "accounts")
        if a.get("type") in ACCOUNT_TYPES and a.get("code") and a.get("name")
    ]
    vendors = [
        (str(v["vendor_id"]), str(v["name"]))
        for v in rows(evidence, "listVendors", "vendors")
        if v.get("vendor_id") and v.get("name")
    ]
    return Choices(
        accounts=_shown(accounts),
        vendors=_shown(vendors),
        account_names=dict(accounts),
        vendor_names=dict(vendors),
    )


def _shown(records: list[tuple[str, str]]) -> dict[str, str]:
    names = [name for _, name in records]
    return {
        (name if names.count(name) == 1 else f"{name} ({key})"): key
        for key, name in dict(records).items()
    }


def answer_schema(schema: dict[str, Any], evidence: Sequence[ToolEvidence]) -> dict[str, Any]:
    """The :class:`Query` schema with this tenant's account and vendor names as the enums of
    ``account`` and ``vendor`` (the use case's ``answer_schema``: from the context's results
    only, so the same for every question of a tenant) and the period label's pattern."""
    found = choices(evidence)
    refined = copy.deepcopy(schema)
    properties = refined["properties"]
    for name, shown in (("account", found.accounts), ("vendor", found.vendors)):
        described = {k: v for k, v in properties[name].items() if k == "description"}
        properties[name] = {**described, "enum": [NONE, *shown]}
    properties["periods"]["items"] = {"type": "string", "pattern": _periods.LABEL_PATTERN}
    return refined


_WORD = re.compile(r"[a-z0-9']+")
_PLAIN_WORDS = frozenset(
    {"and", "the", "for", "with", "from", "fees", "sales", "expense", "expenses", "other",
     "total", "cost", "costs", "services", "inc", "llc", "company"}
)  # fmt: skip  # words too common in account and vendor names to tell one from another


def _stems(text: str) -> set[str]:
    words = (w.removesuffix("'s") for w in _WORD.findall(text.casefold()))
    return {w.removesuffix("s") for w in words if len(w) >= 4 and w not in _PLAIN_WORDS}


def _initials(name: str) -> str:
    parts = _WORD.findall(name.casefold())
    return "".join(p[0] for p in parts).upper() if len(parts) > 1 else ""


def _overlap(question: str, name: str) -> int:
    """How strongly ``question`` names ``name``: its distinctive words in common, or its
    initials written as a word ("AWS" → "Amazon Web Services")."""
    initials = _initials(name)
    if initials and re.search(rf"\b{initials}\b", question):
        return 1
    return len(_stems(question) & _stems(name))


def named(question: str, accounts: Sequence[str], vendors: Sequence[str]) -> tuple[list[str], ...]:
    """The accounts and the vendors ``question`` names best ("green coffee" → "COGS - green
    coffee", not "Wholesale coffee sales" nor "Sweet Maria's Coffee"; "Sweet Maria's" → "Sweet
    Maria's Coffee"): those with the most words in common, over both lists."""
    scores = {name: _overlap(question, name) for name in [*accounts, *vendors]}
    best = max(scores.values(), default=0)
    if best == 0:
        return [], []
    return (
        [a for a in accounts if scores[a] == best],
        [v for v in vendors if scores[v] == best],
    )


MAX_OTHER_NAMES = 3
_CAPITALIZED = re.compile(r"(?<![.?!]\s)(?<!^)\b([A-Z][A-Za-z'&]+(?:\s+[A-Z][A-Za-z'&]+)*)")
_NOT_NAMES = frozenset(
    {m.casefold() for m in _periods.MONTH_NAMES} | {"i", "we", "our", "us", "q1", "q2", "q3", "q4"}
)


def unknown_names(question: str, known: Sequence[str]) -> list[str]:
    """Names in ``question`` (capitalized words inside a sentence, acronyms) that are no
    account or vendor of this company: perhaps another company's."""
    known_words = {w for name in known for w in _stems(name)}
    found = []
    for match in _CAPITALIZED.finditer(question.strip()):
        name = match.group(1)
        words = _stems(name)
        if name.casefold() in _NOT_NAMES or (words and words <= known_words):
            continue
        if name in {_initials(k) for k in known}:  # "AWS" for Amazon Web Services
            continue
        found.append(name)
    return list(dict.fromkeys(found))


def notes(event: Mapping[str, Any], evidence: Sequence[ToolEvidence]) -> str:
    """What the model reads under the question (the use case's ``task_notes``): the periods
    it may mean, this tenant's accounts and vendors it names, and names it uses that are
    neither, as code reads them."""
    question = str(event.get("question", ""))
    found = choices(evidence)
    accounts, vendors = named(question, list(found.accounts), list(found.vendors))
    others = unknown_names(question, [*found.accounts, *found.vendors])[:MAX_OTHER_NAMES]
    # the other names are the question's own words: fenced as the question is
    told = untrusted(", ".join(others), source="event:question") if others else f"{NONE}."
    return (
        f"{_periods.notes(event)} Candidate accounts: {', '.join(accounts) or NONE}. "
        f"Candidate vendors: {', '.join(vendors) or NONE}. Other names: {told}"
    )


@dataclass(frozen=True)
class Checked:
    """A query as code will run it: the account code, the vendor id and the periods, or the
    ``problem`` to send back to the model (a choice this tenant's records do not hold).
    ``unknown_subject``: the question names someone no account or vendor of this tenant is,
    and the query filters by nothing — its figure would answer another question."""

    query: Query
    category: str | None = None
    vendor_id: str | None = None
    periods: tuple[_periods.Period, ...] = ()
    problem: str | None = None
    unknown_subject: bool = False


def validate(query: Query, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]) -> Checked:
    """Check ``query`` against this tenant's chart and vendors and the question's candidate
    periods (code decides what the enums and the candidates allowed; a model that ignored
    them gets told what it may choose)."""
    if query.cannot_answer:
        return Checked(query)
    found = choices(evidence)
    category, vendor_id = found.account(query.account), found.vendor(query.vendor)
    problems = []
    if query.account is not None and category is None:
        problems.append(f'account must be one of {sorted(found.accounts)} or "none"')
    if query.vendor is not None and vendor_id is None:
        problems.append(f'vendor must be one of {sorted(found.vendors)} or "none"')
    asked = _periods.asked_on(event)
    allowed = {p.label: p for p in _periods.candidates(str(event.get("question", "")), asked)}
    chosen = []
    for label in dict.fromkeys(p.strip() for p in query.periods):
        period = allowed.get(label)
        if period is None:
            listed = ", ".join(allowed) or "none: use []"
            problems.append(f"period {label!r} is not a candidate period ({listed})")
        else:
            chosen.append(period)
    if problems:
        return Checked(query, problem="; ".join(problems))
    question = str(event.get("question", ""))
    unknown = (
        category is None
        and vendor_id is None
        and bool(unknown_names(question, [*found.accounts, *found.vendors]))
    )
    return Checked(query, category, vendor_id, tuple(chosen), unknown_subject=unknown)
