"""Deterministic checks of a :class:`VendorProfile` against what this run's tools returned.

- ``tenant_scoped_ids``: the cited directory entry, vendor record and written vendor id were
  all returned by this run's (tenant-scoped) tools;
- ``fields_grounded``: every known value appears in a *read* tool's result — the write-back's
  echo does not count, it only repeats what the model sent; bank descriptors (the event's and
  those listTransactions returns) may ground the name only, never a website, phone or code,
  since whoever writes a descriptor could write "website: https://evil.example" into it;
- ``account_in_chart``: the account category is a code of the chart listAccounts returned;
- ``written_back``: the vendor id came from upsertVendor in this run, and what was written
  matches what the output reports (the write carries nothing the output does not).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from processors.daemons.vendor_enrichment.models import VendorProfile
from processors.guardrails.checks import CheckResult, ToolEvidence, ids_grounded

WRITE_TOOLS = frozenset({"upsertVendor"})
"""Tools whose results echo the model's own input: never evidence for a value."""

# output field -> field of the upsertVendor body that stores it
WRITTEN_AS = {
    "name": "name",
    "website": "website",
    "phone": "phone",
    "address": "address",
    "merchant_category_code": "mcc",
    "account_category": "default_category",
}
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
        if e.error is None and e.tool not in WRITE_TOOLS
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


def fields_grounded(
    output: VendorProfile, evidence: Sequence[ToolEvidence], descriptor: str = ""
) -> CheckResult:
    """Every known name, website, phone, address, opening hours and MCC appears in what a
    read tool returned (MCCs only under an ``mcc`` key): no invented values. Descriptors
    (``descriptor``, the event's own) ground the name only."""
    leaves = read_leaves(evidence)
    records = [(key, text) for key, text in leaves if key != "descriptor"]
    for_name = [*leaves, ("descriptor", descriptor)]
    invented = [
        f"{field}={value!r}"
        for field, grounded in _GROUNDED.items()
        if (value := output.value(field)) is not None
        and not grounded(value, for_name if field == "name" else records)
    ]
    if invented:
        return CheckResult("fields_grounded", False, f"not in tool results: {', '.join(invented)}")
    return CheckResult("fields_grounded", True, "every known value appears in a tool result")


def account_in_chart(output: VendorProfile, evidence: Sequence[ToolEvidence]) -> CheckResult:
    """A known account category is a code of the chart of accounts listAccounts returned."""
    code = output.account_category
    if code is None:
        return CheckResult("account_in_chart", True, "account category unknown")
    charts = [e for e in evidence if e.tool == "listAccounts" and e.error is None]
    codes = {text for e in charts for key, text in _leaves(e.result) if key == "code"}
    if code in codes:
        return CheckResult("account_in_chart", True, f"account {code} is in the chart")
    if not charts:
        return CheckResult("account_in_chart", False, f"account {code!r} but no listAccounts call")
    return CheckResult("account_in_chart", False, f"account {code!r} is not in the chart")


def _same(field: str, written: Any, reported: str | None) -> bool:
    if reported is None or not isinstance(written, str):
        return False
    if field == "website":
        return _site(written) == _site(reported)
    if field == "phone":
        return _digits(written) == _digits(reported)
    return _text(written) == _text(reported)


def written_back(output: VendorProfile, evidence: Sequence[ToolEvidence]) -> CheckResult:
    """The output's vendor id is the one upsertVendor returned in this run, and every field
    the write stored equals the output's (grounded) value for it."""
    writes = [e for e in evidence if e.tool in WRITE_TOOLS]
    done = [e for e in writes if e.error is None and isinstance(e.result, dict)]
    if output.vendor_id is None:
        if done:
            return CheckResult("written_back", False, "a vendor was written but vendor_id is null")
        if writes:
            return CheckResult(
                "written_back", True, f"the API refused the write: {writes[-1].error}"
            )
        if output.name is None:
            return CheckResult("written_back", True, "vendor unknown: nothing to write")
        return CheckResult("written_back", False, "the enriched vendor was not written back")
    matching = [
        e for e in done if (e.result.get("vendor") or {}).get("vendor_id") == output.vendor_id
    ]
    if not matching:
        detail = f"vendor_id {output.vendor_id!r} was not returned by upsertVendor in this run"
        return CheckResult("written_back", False, detail)
    body = matching[-1].arguments.get("vendor") or {}
    differ = [
        f"{field} wrote {body[key]!r}"
        for field, key in WRITTEN_AS.items()
        if body.get(key) is not None and not _same(field, body[key], output.value(field))
    ]
    if differ:
        return CheckResult("written_back", False, f"write differs from output: {', '.join(differ)}")
    return CheckResult("written_back", True, f"written as {output.vendor_id}")


def checks(
    output: VendorProfile, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]
) -> list[CheckResult]:
    """The use case's deterministic checks (base.py adds output_schema and no_secrets)."""
    cited = [output.business_id, output.existing_vendor_id, output.vendor_id]
    return [
        ids_grounded([i for i in cited if i], evidence),
        fields_grounded(output, evidence, str(event.get("raw_descriptor", ""))),
        account_in_chart(output, evidence),
        written_back(output, evidence),
    ]
