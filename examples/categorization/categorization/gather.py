"""The reads every categorization needs, made by code before the model's first turn.

The tenant's chart of accounts and its vendor records (with their default categories) are
the same for every event of a tenant (:data:`CONTEXT`: they come before the event in the
prompt, where a model server's prefix cache keeps them); the tenant's earlier transactions
whose descriptor holds the merchant word of this one are this event's (:func:`gather`). All
three go through the allowlisted tools as the event's principal, traced and recorded like
the model's own calls. :data:`VIEWS` trim what the model reads of them to what the choice
needs; the checks still get the whole results.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from processors.agent.views import rows
from processors.llm.model import ToolCall

# a card processor's prefix before the merchant: "SQ *BLUE BOTTLE", "TST* TWO RIVERS DINER"
# (only when a plain word follows it: in "ULINE *S1849302" the merchant is the prefix)
_PREFIX = re.compile(r"^\s*[A-Z0-9.]{2,12}\s?\*\s*(?=[A-Z][A-Z'&-]*\b)", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'&]{2,}")  # three letters at least: not "CA", "OR"
# words that name no merchant: a descriptor made of these only is matched by none
GENERIC = frozenset({
    "ach", "atm", "card", "debit", "credit", "deposit", "dep", "online", "transfer", "payment",
    "pmt", "pos", "purchase", "ref", "wire", "refund", "return", "reversal", "the", "inc", "llc",
})  # fmt: skip


def merchant_word(descriptor: str) -> str | None:
    """The first word of the merchant part of a bank descriptor, the text earlier
    transactions of the same merchant share: ``"SQ *BLUE BOTTLE COF 1234 OAKLAND CA"`` ->
    ``"BLUE"``, ``"ULINE *S1977310 800-295-5510 WI"`` -> ``"ULINE"``, ``"GITHUB, INC."`` ->
    ``"GITHUB"``; None when every word is generic (``"ONLINE TRANSFER REF 88213"``)."""
    merchant = _PREFIX.sub("", descriptor)
    words: list[str] = _WORD.findall(merchant)
    return next((w for w in words if w.casefold() not in GENERIC), None)


def gather(event: Mapping[str, Any]) -> list[ToolCall]:
    """The tenant's earlier transactions of this merchant (none for a generic descriptor:
    a transfer's history would be every transfer, which tells nothing about this one)."""
    word = merchant_word(str(event["descriptor"]))
    if word is None:
        return []
    return [
        ToolCall(id="gather-transactions", name="listTransactions", arguments={"descriptor": word})
    ]


CONTEXT = (
    ToolCall(id="context-accounts", name="listAccounts", arguments={}),
    ToolCall(id="context-vendors", name="listVendors", arguments={}),
)

VIEWS = {
    # every account with its type: a credit goes to income, a debit to an expense
    "listAccounts": rows("accounts", columns=("code", "name", "type")),
    "listVendors": rows("vendors", columns=("vendor_id", "name", "default_category")),
    # only booked transactions tell an account, and one per account says it
    "listTransactions": rows(
        "transactions",
        columns=("transaction_id", "descriptor", "direction", "category", "vendor_id"),
        where=lambda t: bool(t.get("category")),
        distinct="category",
    ),
}
