"""From the model's :class:`VendorChoice` to the :class:`VendorProfile`: code copies values.

The chosen directory entry (by ``business_id``, among what ``searchDirectory`` returned in
this run) gives website, phone, address, opening hours and merchant category code; the chosen
existing vendor record (by ``vendor_id``, among what ``listVendors`` returned) fills what the
directory left unknown. A copied value is as sure as its record (0.9); the name and the account
are the model's judgement (0.9 when they equal a record's, else 0.6). The model answers the
account's code; an answer written as the chart's name or as "code name" is looked up to the
code (asked for names, the 1.5B model copied the directory's category text instead: 1 of 10
right against 3 of 10 by code). An id no tool returned
is kept as the model gave it, with nothing copied, so the checks report it
(``tenant_scoped_ids``, ``entry_returned``) exactly as before. Pure: evidence in, profile out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from processors.daemons.vendor_enrichment.checks import first_name_word, named_cities
from processors.daemons.vendor_enrichment.gather import without_processor
from processors.daemons.vendor_enrichment.models import VendorChoice, VendorProfile
from processors.tools.evidence import ToolEvidence, rows

_MCC = re.compile(r"[0-9]{4}")
COPIED = 0.9  # a value a tool returned for the chosen record
CHOSEN = 0.6  # a value the model chose (a name read off the descriptor, an account picked)

# profile field -> key in a directory entry / in a vendor record
_FROM_ENTRY = {
    "website": "website",
    "phone": "phone",
    "address": "address",
    "opening_hours": "hours",
    "merchant_category_code": "mcc",
}
_FROM_VENDOR = {
    "website": "website",
    "phone": "phone",
    "address": "address",
    "merchant_category_code": "mcc",
}


def _find(found: list[Mapping[str, Any]], key: str, value: str | None) -> Mapping[str, Any]:
    if value is None:
        return {}
    return next((row for row in found if str(row.get(key)) == value), {})


def _text(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value).strip()


def account_code(answer: str | None, chart: Sequence[Mapping[str, Any]]) -> str | None:
    """The code of the chart's account the model named: by name (as listAccounts writes it,
    case and spacing aside), by code, or as "code name"; an answer that names no account of
    the chart is kept as given, so ``account_in_chart`` reports it."""
    text = _text(answer)
    if text is None:
        return None
    wanted = " ".join(text.casefold().split())
    for account in chart:
        code, name = _text(account.get("code")), _text(account.get("name"))
        if code is None:
            continue
        if wanted == code.casefold() or (name and wanted == " ".join(name.casefold().split())):
            return code
    lead = re.match(r"([0-9]{3,6})\b", text)  # "6600 Meals", "6600 | Meals"
    if lead and any(_text(a.get("code")) == lead.group(1) for a in chart):
        return lead.group(1)
    return text


def profile(choice: VendorChoice, evidence: Sequence[ToolEvidence]) -> VendorProfile:
    """The profile the choice stands for, every value copied from a record of this run."""
    entry = _find(rows(evidence, "searchDirectory", "results"), "business_id", choice.business_id)
    vendor = _find(rows(evidence, "listVendors", "vendors"), "vendor_id", choice.existing_vendor_id)
    values: dict[str, Any] = {
        "business_id": choice.business_id,
        "existing_vendor_id": choice.existing_vendor_id,
    }
    for field, key in _FROM_ENTRY.items():
        candidates: tuple[str | None, ...] = (
            _text(entry.get(key)),
            _text(vendor.get(_FROM_VENDOR.get(field, ""))),
        )
        if field == "merchant_category_code":  # a code that is no MCC is not one to publish
            candidates = tuple(c for c in candidates if c and _MCC.fullmatch(c))
        value = next((c for c in candidates if c), None)
        values[field], values[f"{field}_confidence"] = value, COPIED if value else 0.0
    recorded_names = {_text(entry.get("name")), _text(vendor.get("name"))} - {None}
    # the chosen record's name as it is written there; the model's only when it chose none,
    # without the payment processor's prefix a descriptor carries ("PADDLE.NET* ZVKRT LABS")
    own = without_processor(choice.name) if choice.name else None
    name = _text(entry.get("name")) or _text(vendor.get("name")) or own
    values["name"] = name
    values["name_confidence"] = (COPIED if name in recorded_names else CHOSEN) if name else 0.0
    chart = rows(evidence, "listAccounts", "accounts")
    account = account_code(choice.account_category, chart) or _text(vendor.get("default_category"))
    booked = {_text(t.get("category")) for t in rows(evidence, "listTransactions", "transactions")}
    booked.add(_text(vendor.get("default_category")))
    values["account_category"] = account
    values["account_category_confidence"] = (
        (COPIED if account in booked else CHOSEN) if account else 0.0
    )
    return VendorProfile.model_validate(values)


def branch(choice: VendorChoice, evidence: Sequence[ToolEvidence], descriptor: str) -> VendorChoice:
    """The branch the descriptor names, when the model chose the right business in another
    city: a chain's entries share a name, and which one a descriptor means is a matter of
    its city words, which code reads exactly (``business_matches`` fails any other branch).
    Switched only to the one returned entry of the same name in a city the descriptor names;
    otherwise the choice stands as the model made it, for the checks to judge."""
    results = rows(evidence, "searchDirectory", "results")
    chosen = _find(results, "business_id", choice.business_id)
    named = named_cities(results, descriptor)
    if not chosen or not named or str(chosen.get("city", "")) in named:
        return choice
    word = first_name_word(chosen)
    there = [r for r in results if str(r.get("city", "")) in named and first_name_word(r) == word]
    if len(there) != 1:
        return choice
    return choice.model_copy(update={"business_id": str(there[0]["business_id"])})


def resolve(
    choice: VendorChoice, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]
) -> VendorProfile:
    """The use case's ``resolve`` hook: the branch the descriptor names, then the profile."""
    return profile(branch(choice, evidence, str(event.get("raw_descriptor", ""))), evidence)
