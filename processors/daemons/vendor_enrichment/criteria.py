"""The judge's criteria for a vendor profile: one claim each, against the directory entry.

Code finds the directory entry the profile cites (``searchDirectory:<business_id>`` in its
name's sources) and gives each question only what bears on it: the descriptor and the entries
the search returned (which one is this business? — asked blind, the profile's choice not
shown; "none of them" for a profile left unknown), the profile's values and the cited
entry's (are they its values?), the account and the business (does the account fit?).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processors.guardrails.criteria import Ask, Criteria, Criterion, Decided
from processors.tools.evidence import ToolEvidence

# profile field -> the directory entry's key
ENTRY_FIELDS = {
    "name": "name",
    "website": "website",
    "phone": "phone",
    "address": "address",
    "opening_hours": "hours",
    "merchant_category_code": "mcc",
}
_SHOWN = 6  # directory entries offered to choose from (the cited one always among them)


def _entries(evidence: Sequence[ToolEvidence]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for e in evidence:
        if e.tool == "searchDirectory" and isinstance(e.result, Mapping):
            found += [r for r in e.result.get("results") or () if isinstance(r, Mapping)]
    return found


def _known(output: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    node = output.get(name)
    if isinstance(node, Mapping) and node.get("status") == "known" and node.get("value"):
        return node
    return None


def _cited(node: Mapping[str, Any]) -> str | None:
    for source in node.get("sources") or ():
        tool, _, ref = str(source).partition(":")
        if tool == "searchDirectory" and ref:
            return ref
    return None


def _entry_for(output: Mapping[str, Any], evidence: Sequence[ToolEvidence]) -> tuple[
    str | None, Mapping[str, Any] | None
]:  # fmt: skip
    """(the business id the profile cites, its entry if the tools returned it): the name's
    source first, else the first directory-sourced field's."""
    nodes = [_known(output, f) for f in ENTRY_FIELDS]
    cited = next((c for n in nodes if n is not None and (c := _cited(n))), None)
    entry = next((e for e in _entries(evidence) if e.get("business_id") == cited), None)
    return cited, entry


def _place(entry: Mapping[str, Any]) -> str:
    """Where it is and what it does: ``300 Webster St, CA (Fast food restaurants)``."""
    place = ", ".join(str(entry[k]) for k in ("address", "region") if entry.get(k))
    kind = entry.get("mcc_description") or ""
    return place + (f" ({kind})" if kind else "")


def _describe(entry: Mapping[str, Any]) -> str:
    place = ", ".join(str(entry[k]) for k in ("address", "city", "region") if entry.get(k))
    kind = entry.get("mcc_description") or ""
    return f"{entry.get('name')} — {place}" + (f" ({kind})" if kind else "")


NONE = "none of them"


def _label(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('name')}, {entry.get('city')}"


def business_identified(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence]
) -> list[Ask | Decided]:
    """A blind choice among the entries the search returned (and "none of them"): met when
    the model picks the entry the profile cites, or "none" for a profile left unknown."""
    entries = _entries(evidence)
    known = _known(output, "name") is not None
    if known:
        cited, entry = _entry_for(output, evidence)
        if entry is None:
            why = f"cites directory entry {cited!r}" if cited else "cites no directory entry"
            return [Decided("no", f"the profile {why}, which this run's tools did not return")]
        shown = [*entries[:_SHOWN], *([entry] if entry not in entries[:_SHOWN] else [])]
    elif entries:
        entry, shown = None, entries[:_SHOWN]
    else:
        return []
    labels: dict[str, Mapping[str, Any]] = {}
    for e in shown:  # two entries alike in name and town are told apart by their id
        label = _label(e) if _label(e) not in labels else f"{_label(e)} ({e.get('business_id')})"
        labels[label] = e
    expected = next((k for k, e in labels.items() if e is entry), NONE)
    descriptor = str(event.get("raw_descriptor", ""))
    lines = "\n".join(f"{k}: {_place(e)}" for k, e in labels.items())
    claim = f"the payment was made at {expected}" if entry is not None else "no entry is it"
    return [Ask(claim, {"card descriptor": descriptor, "directory entries": lines},
                options=(*labels, NONE), expected=(expected,))]  # fmt: skip


def values_from_entry(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence]
) -> list[Ask | Decided]:
    claimed = {f: node["value"] for f in ENTRY_FIELDS if (node := _known(output, f))}
    if not claimed:
        return []
    _, entry = _entry_for(output, evidence)
    if entry is None:
        return []  # business_identified already answered "no" for a profile without its entry
    claim = "\n".join(f"{f}: {v}" for f, v in claimed.items())
    shown = "\n".join(f"{f}: {entry.get(ENTRY_FIELDS[f])}" for f in claimed)
    return [Ask(claim, {"directory entry": shown})]


def account_fits(
    event: Mapping[str, Any], output: Mapping[str, Any], evidence: Sequence[ToolEvidence]
) -> list[Ask | Decided]:
    node = _known(output, "account_category")
    if node is None:
        return []
    code = str(node["value"])
    chart = {
        str(a.get("code")): a
        for e in evidence
        if e.tool == "listAccounts" and isinstance(e.result, Mapping)
        for a in e.result.get("accounts") or ()
        if isinstance(a, Mapping)
    }
    if code not in chart:
        return [Decided("no", f"account {code} is not in the chart of accounts the tools returned")]
    _, entry = _entry_for(output, evidence)
    business = _describe(entry) if entry else str((_known(output, "name") or {}).get("value"))
    expenses = "\n".join(
        f"{c} {a.get('name')}" for c, a in chart.items() if a.get("type") == "expense"
    )
    return [Ask(f"A purchase from this business is booked to account {code} "
                f"({chart[code].get('name')}).",
                {"business": business, "expense accounts": expenses})]  # fmt: skip


CRITERIA = Criteria((
    Criterion(
        "business_identified",
        "Which directory entry is the business the card descriptor names (its name words and, "
        "when it gives one, its town)?",
        business_identified,
    ),
    Criterion(
        "values_from_entry",
        "Is each value in the claim the same as that field's value in the directory entry?",
        values_from_entry,
    ),
    Criterion(
        "account_fits",
        "Is this expense account a fitting one, among these, for a purchase from this business?",
        account_fits,
    ),
))  # fmt: skip
