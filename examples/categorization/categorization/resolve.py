"""From the model's :class:`CategoryChoice` to the :class:`Categorization`: code copies values.

The account's name and type come from the chart listAccounts returned in this run (a code
the chart lacks keeps no name, and the checks fail it). The confidence is the model's, capped
at :data:`UNSUPPORTED_CAP` unless a cited record books this very account — the cited vendor's
default category or an earlier transaction's category — so an account chosen from account
names alone never passes for one the books confirm. A citation no tool of this run returned as
a record (a small model fills the list with an amount, a date, an account code or an id of
its own making) is dropped here, before the checks, and named in the reason — so the account
rests on what remains, and an account chosen from names alone is not withheld for a made-up
citation. Pure: evidence in, categorization out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processors.tools.evidence import ToolEvidence, rows

from categorization.models import CATEGORIZED, NEEDS_REVIEW, Categorization, CategoryChoice

UNSUPPORTED_CAP = 0.5
"""The highest confidence of an account no cited record books (a judgement from account
names alone): below the checks' threshold, so such an account is a suggestion for a person,
never posted by itself. Measured with the local 1.5B model (this package's README): at 0.8 it
posted a wrong account in 7 of the 24 eval cases, each one no cited record booked."""


def records(evidence: Sequence[ToolEvidence], tool: str, key: str) -> list[Mapping[str, Any]]:
    """The rows under ``key`` of every successful ``tool`` result of the run."""
    return rows(evidence, tool, key)


def chart(evidence: Sequence[ToolEvidence]) -> dict[str, Mapping[str, Any]]:
    """Account code -> the account (code, name, type), as listAccounts returned it."""
    return {str(a.get("code")): a for a in records(evidence, "listAccounts", "accounts")}


def returned_ids(evidence: Sequence[ToolEvidence]) -> set[str]:
    """The vendor and transaction ids this run's tools returned as records."""
    vendors = {str(v.get("vendor_id")) for v in records(evidence, "listVendors", "vendors")}
    found = {str(t.get("transaction_id"))
             for t in records(evidence, "listTransactions", "transactions")}  # fmt: skip
    return (vendors | found) - {"None"}


def booked_by(evidence: Sequence[ToolEvidence], ids: Sequence[str]) -> set[str]:
    """The accounts the records ``ids`` book: a vendor's default category, an earlier
    transaction's category (only records this run's tools returned count)."""
    wanted = set(ids)
    vendors = records(evidence, "listVendors", "vendors")
    transactions = records(evidence, "listTransactions", "transactions")
    booked = {str(v["default_category"]) for v in vendors
              if v.get("vendor_id") in wanted and v.get("default_category")}  # fmt: skip
    booked |= {str(t["category"]) for t in transactions
               if t.get("transaction_id") in wanted and t.get("category")}  # fmt: skip
    return booked


def categorization(choice: CategoryChoice, evidence: Sequence[ToolEvidence]) -> Categorization:
    """What the choice stands for, the account's name and type copied from the chart."""
    code = choice.account_code
    returned = returned_ids(evidence)
    cited = [i for i in choice.evidence if i in returned]
    dropped = [i for i in choice.evidence if i not in returned]
    reason = choice.reason
    if dropped:
        reason = f"{reason} (citations no tool returned, dropped: {', '.join(dropped)})"[:600]
    if code is None:
        return Categorization(
            status=NEEDS_REVIEW, account_code=None, confidence=0.0, evidence=cited,
            reason=reason, review_reason="no account of the chart fits",
        )  # fmt: skip
    account = chart(evidence).get(code, {})
    confidence = choice.confidence
    if code not in booked_by(evidence, cited):
        confidence = min(confidence, UNSUPPORTED_CAP)
    return Categorization(
        status=CATEGORIZED,
        account_code=code,
        account_name=str(account["name"]) if account.get("name") else None,
        account_type=str(account["type"]) if account.get("type") else None,
        confidence=confidence,
        evidence=cited,
        reason=reason,
    )


def resolve(
    choice: CategoryChoice, evidence: Sequence[ToolEvidence], event: Mapping[str, Any]
) -> Categorization:
    """The use case's ``resolve`` hook (the event is not needed here)."""
    return categorization(choice, evidence)
