"""Deterministic checks of a :class:`VendorProfile` against what this run's tools returned.

- ``tenant_scoped_ids``: the cited directory entry and vendor record were both returned by
  this run's (tenant-scoped) tools *as such*: ``business_id`` as a directory result's
  ``business_id``, ``existing_vendor_id`` as a vendor record's ``vendor_id`` (an account code
  or an amount that happens to be the same text is not a vendor to update);
- ``fields_grounded``: every known value appears in a *read* tool's result — the write-back's
  echo does not count, it only repeats what the model sent; bank descriptors (the event's and
  those listTransactions returns) may ground the name only, never a website, phone or code,
  since whoever writes a descriptor could write "website: https://evil.example" into it;
- ``account_in_chart``: the account category is a code of the chart listAccounts returned;
- ``business_matches``: the chosen directory entry's name starts with a word of the
  descriptor and, when the descriptor names a city of the results, lies in that city.

The write-back comes after these (:mod:`.write`), from the checked output itself, so what is
written is exactly what passed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from processors.daemons.usecase import Checked
from processors.daemons.vendor_enrichment.models import VALUE_FIELDS, VendorProfile
from processors.guardrails.checks import CheckResult, demotion
from processors.tools.evidence import ToolEvidence

DIRECTORY_FIELDS = ("website", "phone", "address", "opening_hours", "merchant_category_code")
WRITE_TOOLS = frozenset({"upsertVendor"})
# memory proposes, the ledger confirms: what memory says grounds nothing here (a remembered
# vendor is answered only once this run's directory and vendor reads return it again)
NOT_GROUNDS = WRITE_TOOLS | {"recall", "facts", "identify"}
"""Tools whose results echo the model's own input: never evidence for a value."""

_PHONE = re.compile(r"\+?\(?\d[\d\s().-]{5,}\d")
_SCHEME = re.compile(r"^(?:https?://)?(?:www\.)?")

Leaf = tuple[str | None, str]  # (the key it sits under, the value as text)


def _leaves(node: Any, key: str | None = None) -> Iterator[Leaf]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, str(k))
    elif isinstance(node, list):
        for item in node:
            yield from _leaves(item, key)
    elif isinstance(node, str | int | float) and not isinstance(node, bool):
        yield key, str(node)


def read_leaves(evidence: Sequence[ToolEvidence]) -> list[Leaf]:
    """Every scalar the successful read tools returned, with the key it was found under."""
    return [
        leaf
        for e in evidence
        if e.error is None and e.tool not in NOT_GROUNDS
        for leaf in _leaves(e.result)
    ]


def _text(value: str) -> str:
    return " ".join(value.casefold().split())


def _site(value: str) -> str:
    return _SCHEME.sub("", value.strip().casefold()).rstrip("/")


def _digits(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return digits[1:] if len(digits) == 11 and digits.startswith("1") else digits


def _phone_grounded(value: str, leaves: list[Leaf]) -> bool:
    wanted = _digits(value)
    return len(wanted) >= 7 and any(
        _digits(found) == wanted for _, text in leaves for found in _PHONE.findall(text)
    )


def _text_grounded(value: str, leaves: list[Leaf]) -> bool:
    """Each comma-separated part is found inside one returned string ("300 Webster St,
    Oakland, CA" is grounded by address, city and region; an invented ZIP code is not)."""
    texts = [_text(t) for _, t in leaves]
    parts = [_text(p) for p in value.split(",") if p.strip()]
    return bool(parts) and all(any(p in t for t in texts) for p in parts)


_GROUNDED: dict[str, Callable[[str, list[Leaf]], bool]] = {
    "name": _text_grounded,
    "website": lambda v, leaves: any(_site(t) == _site(v) for _, t in leaves),
    "phone": _phone_grounded,
    "address": _text_grounded,
    "opening_hours": _text_grounded,
    "merchant_category_code": lambda v, leaves: any(k == "mcc" and t == v for k, t in leaves),
}


def invented_fields(
    output: VendorProfile, evidence: Sequence[ToolEvidence], descriptor: str = ""
) -> dict[str, str]:
    """The known name, website, phone, address, opening hours and MCC that no read tool
    returned (MCCs only under an ``mcc`` key), with why. Descriptors (``descriptor``, the
    event's own) ground the name only."""
    leaves = read_leaves(evidence)
    records = [(key, text) for key, text in leaves if key != "descriptor"]
    for_name = [*leaves, ("descriptor", descriptor)]
    return {
        field: f"{field}={value!r} not in tool results"
        for field, grounded in _GROUNDED.items()
        if (value := output.value(field)) is not None
        and not grounded(value, for_name if field == "name" else records)
    }


def invented_entry(output: VendorProfile, evidence: Sequence[ToolEvidence]) -> dict[str, str]:
    """``business_id`` and the directory fields to make unknown when ``business_id`` is no
    search result's id: nothing read "from" that entry can stand."""
    chosen = output.business_id
    if chosen is None or ("business_id", chosen) in read_leaves(evidence):
        return {}
    because = f"business_id {chosen!r} is no directory result"
    fields = [f for f in DIRECTORY_FIELDS if output.value(f) is not None]
    return {"business_id": because} | {f: f"{f}: {because}" for f in fields}


def cited_ids(output: VendorProfile, evidence: Sequence[ToolEvidence]) -> CheckResult:
    """The directory entry and vendor record the profile names, each returned as one."""
    returned = set(read_leaves(evidence))
    wrong = [
        f"{field}={value!r}"
        for field, key, value in (
            ("business_id", "business_id", output.business_id),
            ("existing_vendor_id", "vendor_id", output.existing_vendor_id),
        )
        if value is not None and (key, value) not in returned
    ]
    if wrong:
        return CheckResult("tenant_scoped_ids", False, f"no tool returned them as such: {wrong}")
    return CheckResult("tenant_scoped_ids", True, "the cited entry and record came from tools")


def account_problem(
    output: VendorProfile, evidence: Sequence[ToolEvidence], transaction_id: str | None = None
) -> str | None:
    """Why a known account category cannot be this vendor's: not a code of the chart
    listAccounts returned, or not an expense account (an income account when the source
    transaction, as listTransactions returned it, is money received)."""
    code = output.account_category
    if code is None:
        return None
    charts = [e for e in evidence if e.tool == "listAccounts" and e.error is None]
    if not charts:
        return f"account {code!r} but no listAccounts call"
    types = {
        str(account.get("code")): str(account.get("type"))
        for e in charts
        if isinstance(e.result, dict)
        for account in e.result.get("accounts", [])
        if isinstance(account, dict)
    }
    if code not in types:
        return f"account {code!r} is not in the chart"
    wanted = "income" if _direction(evidence, transaction_id) == "credit" else "expense"
    if types[code] != wanted:
        return f"account {code!r} is a {types[code]} account, not an {wanted} account"
    return None


def _direction(evidence: Sequence[ToolEvidence], transaction_id: str | None) -> str | None:
    for e in evidence:
        if e.tool == "listTransactions" and isinstance(e.result, dict):
            for tx in e.result.get("transactions", []):
                if isinstance(tx, dict) and tx.get("transaction_id") == transaction_id:
                    return str(tx.get("direction"))
    return None


def demote(output: VendorProfile, name: str, problems: Mapping[str, str], ok: str) -> CheckResult:
    """Make every field in ``problems`` unknown (value null, confidence 0) — it is not
    published or written back — and say so; the rest of the profile still stands."""
    for field in problems:
        setattr(output, field, None)
        if field in VALUE_FIELDS:
            setattr(output, f"{field}_confidence", 0.0)
    return demotion(name, problems, to="unknown", ok=ok)


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.casefold()))


def first_name_word(entry: Mapping[str, Any]) -> str | None:
    """The first word of a directory entry's name ("the" aside), as a descriptor spells it."""
    words = [w for w in re.findall(r"[a-z0-9]+", str(entry.get("name", "")).casefold())]
    words = [w for w in words if w != "the"]
    return words[0] if words else None


def named_cities(results: Sequence[Mapping[str, Any]], descriptor: str) -> set[str]:
    """The cities of ``results`` that the descriptor names (all of a city's words in it)."""
    said = _words(descriptor)
    cities = {str(r.get("city", "")) for r in results if r.get("city")}
    return {c for c in cities if _words(c) and _words(c) <= said}


def business_matches(
    output: VendorProfile, evidence: Sequence[ToolEvidence], descriptor: str
) -> CheckResult:
    """The chosen directory entry is the descriptor's business: its name's first word is in
    the descriptor and, when the descriptor names the city of any result, it is that city (a
    chain's other branch has the same website and category but not the same phone)."""
    if output.business_id is None:
        return CheckResult("business_matches", True, "no directory entry chosen")
    results = [
        r
        for e in evidence
        if e.tool == "searchDirectory" and isinstance(e.result, dict)
        for r in e.result.get("results", [])
        if isinstance(r, dict)
    ]
    chosen = next((r for r in results if r.get("business_id") == output.business_id), None)
    if chosen is None:  # not returned at all: tenant_scoped_ids fails it
        return CheckResult("business_matches", True, "entry not among the search results")
    name = first_name_word(chosen)
    if name and name not in _words(descriptor):
        return CheckResult(
            "business_matches", False, f"{chosen['name']!r} is not in the descriptor"
        )
    named = named_cities(results, descriptor)
    city = str(chosen.get("city", ""))
    if named and city not in named:
        detail = f"descriptor names {sorted(named)}, entry {output.business_id} is in {city!r}"
        return CheckResult("business_matches", False, detail)
    return CheckResult("business_matches", True, f"{chosen['name']!r} matches the descriptor")


def checks(
    output: VendorProfile, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]
) -> Checked[VendorProfile]:
    """The use case's deterministic checks (``run_checks`` adds no_secrets and the rest), on
    a copy of ``output`` that they return demoted.

    A field no tool returned, or an account that is not an expense account of the chart,
    becomes ``unknown`` (:func:`demote`): never published as a value, never written to the
    books; so do the directory fields of a ``business_id`` the search did not return (an
    invented entry: the vendor is then one the directory does not know). What fails the whole
    profile: a vendor record no tool of this tenant returned, and a directory entry that is not
    the descriptor's business (every field read from it would be another business's)."""
    output = output.model_copy(deep=True)  # demoted below; the caller's stays as it was
    descriptor = str(event.get("raw_descriptor", ""))
    account = account_problem(output, evidence, event.get("transaction_id"))
    # first: an invented entry is not chosen at all; the rest read the profile as the model
    # gave it, and the field demotions come only after the whole-profile checks
    results = [
        demote(
            output,
            "entry_returned",
            invented_entry(output, evidence),
            "the chosen directory entry (if any) is a search result",
        ),
        cited_ids(output, evidence),
        business_matches(output, evidence, descriptor),
        demote(
            output,
            "fields_grounded",
            invented_fields(output, evidence, descriptor),
            "every known value appears in a tool result",
        ),
        demote(
            output,
            "account_in_chart",
            {"account_category": account} if account else {},
            "the account category is unknown or in the chart",
        ),
    ]
    return Checked(output, results)
