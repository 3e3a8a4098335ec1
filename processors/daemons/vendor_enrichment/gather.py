"""The reads every vendor enrichment needs, made by code before the model's first turn.

The chart of accounts (the tenant's :data:`CONTEXT`: the same for every event, so it comes
before the event in the prompt, where the model server's prefix cache keeps it), then the
directory search with the raw descriptor and the tenant's earlier transactions and vendor
records with the descriptor's distinctive words (:func:`gather`): four calls a model would
make anyway, through the same tool layer (as the event's principal, traced and recorded).
The model starts from their results and spends its turns on judgement: which result is this
vendor, which account fits, what to write back. :data:`VIEWS` trim what the model reads of
them to what that judgement needs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from processors.agent.views import rows
from processors.llm.model import ToolCall

# Payment processors prefix the merchant: "SQ *BLUE BOTTLE", "PADDLE.NET* ZVKRT LABS".
_PROCESSOR = re.compile(r"^\s*[A-Z0-9.]{2,12}\s?\*\s*", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'&-]+")
_PLAIN = re.compile(r"^[A-Za-z][A-Za-z'&-]+$")


def without_processor(text: str) -> str:
    """``text`` without a leading payment-processor prefix: ``"PADDLE.NET* ZVKRT LABS"`` ->
    ``"ZVKRT LABS"``; unchanged when it has none (or is nothing but one)."""
    rest = _PROCESSOR.sub("", text, count=1).strip()
    return rest or text.strip()


def distinctive_words(descriptor: str, count: int = 2) -> str:
    """Up to ``count`` leading words of the merchant part of a bank descriptor, contiguous
    (the API matches it as a substring): ``"SQ *BLUE BOTTLE COF 1234 OAKLAND CA"`` ->
    ``"BLUE BOTTLE"``, ``"SLACK T02H8K1 SAN FRANCISCO CA"`` -> ``"SLACK"``."""
    merchant = _PROCESSOR.sub("", descriptor).split()
    words: list[str] = []
    for token in merchant[:count]:
        if not _PLAIN.match(token):
            break
        words.append(token)
    if words:
        return " ".join(words)
    found = _WORD.findall(" ".join(merchant))  # "ZOOM.US 888-799-9666" -> "ZOOM"
    return found[0] if found else descriptor.strip()


def gather(event: Mapping[str, Any]) -> list[ToolCall]:
    descriptor = str(event["raw_descriptor"])
    words = distinctive_words(descriptor)
    return [
        ToolCall(id="gather-directory", name="searchDirectory", arguments={"query": descriptor}),
        ToolCall(
            id="gather-transactions", name="listTransactions", arguments={"descriptor": words}
        ),
        ToolCall(id="gather-vendors", name="listVendors", arguments={"name": words.split()[0]}),
    ]


CONTEXT = (ToolCall(id="gather-accounts", name="listAccounts", arguments={}),)

VIEWS = {
    # what matching needs (name, city) and what tells the kind of business; the values the
    # daemon copies from the chosen entry (website, phone, address, hours, mcc) are not shown
    "searchDirectory": rows("results", columns=("business_id", "name", "city", "mcc_description")),
    # an account category is an expense account: the model is shown no other
    "listAccounts": rows(
        "accounts", columns=("code", "name"), where=lambda a: a.get("type") == "expense"
    ),
    # earlier transactions of this descriptor tell the category and vendor they were booked
    # to: only booked ones tell anything, and one per category says it
    "listTransactions": rows(
        "transactions",
        columns=("category", "vendor_id"),
        where=lambda t: bool(t.get("category") or t.get("vendor_id")),
        distinct="category",
    ),
    "listVendors": rows("vendors", columns=("vendor_id", "name", "default_category")),
}
