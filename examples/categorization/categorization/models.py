"""What the categorization agent decides, and the categorization code makes of it.

The model answers a :class:`CategoryChoice`: which account of the tenant's chart (by code),
how sure it is, which records of this run it relied on (by id) and why — the judgement.
Code (:mod:`.resolve`) makes the :class:`Categorization` from it: the account's name and type
copied from the chart listAccounts returned, the confidence capped when no cited record
books this account, and a status. The checks (:mod:`.checks`) then fail what cannot stand (an
account no chart has, a record no tool returned) and leave to a person what is not sure
enough or does not fit the money's direction.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

# What small models write instead of null; each means "no account".
_NONE_WORDS = frozenset({"", "unknown", "null", "none", "n/a", "na", "not found", "-"})

Status = Literal["categorized", "needs_review"]
CATEGORIZED: Status = "categorized"
NEEDS_REVIEW: Status = "needs_review"


def _null_if_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        if value.casefold() in _NONE_WORDS:
            return None
    return value


def _ids(value: Any) -> Any:
    """``"v-r-01, tx-r-003"`` or ``[" v-r-01 ", "", null]`` -> ``["v-r-01", "tx-r-003"]``."""
    if value is None:
        return []
    if isinstance(value, str):
        value = value.replace(";", ",").split(",")
    if isinstance(value, list):
        seen: list[str] = []
        for item in value:
            text = _null_if_none(item) if isinstance(item, str) else item
            if isinstance(text, str) and text not in seen:
                seen.append(text)
        return seen
    return value


class CategoryChoice(BaseModel):
    """The model's judgement about one bank transaction."""

    model_config = ConfigDict(extra="forbid")

    account_code: str | None = Field(
        description="The code of the listAccounts account whose name fits this transaction "
        "(copied from that account); null when no account of the chart clearly fits."
    )
    confidence: float = Field(ge=0.0, le=1.0, description="How sure, 0 to 1; 0 when null.")
    evidence: list[str] = Field(
        max_length=6,
        description="The ids of the records you relied on: vendor_id of a listVendors "
        "record, transaction_id of an earlier listTransactions record; [] when none.",
    )
    reason: str = Field(max_length=300, description="One short sentence: why this account.")

    @field_validator("account_code", mode="before")
    @classmethod
    def _no_account(cls, value: Any) -> Any:
        return _null_if_none(value)

    @field_validator("evidence", mode="before")
    @classmethod
    def _clean_ids(cls, value: Any) -> Any:
        return _ids(value)


class Categorization(BaseModel):
    """One transaction's account, as established from this run's tool results: what the checks
    check and the daemon publishes. ``account_code`` is set only when ``status`` is
    ``categorized``; a transaction left to a person carries no account and says why."""

    model_config = ConfigDict(extra="forbid")

    status: Status
    account_code: str | None
    account_name: str | None = None  # copied from the chart, never the model's
    account_type: str | None = None  # asset, liability, equity, income, expense
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[str] = Field(default_factory=list)
    reason: str = ""
    review_reason: str | None = None  # why a person decides (status needs_review)
