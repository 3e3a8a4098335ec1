"""The ledger's data types: what its handlers take and return (and so its JSON Schemas)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Role = Literal["admin", "bookkeeper", "viewer"]
AccountType = Literal["asset", "liability", "equity", "income", "expense"]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Business(_Model):
    """One entry of the shared business directory."""

    business_id: str
    name: str
    website: str | None = None
    phone: str | None = None
    address: str
    city: str
    region: str
    hours: str | None = Field(default=None, description="Opening hours, free text.")
    mcc: str = Field(description="Merchant category code (ISO 18245), four digits.")
    mcc_description: str


class DirectoryResults(_Model):
    """Directory entries matching a search, best match first."""

    results: list[Business]


class Client(_Model):
    """The company a tenant's books belong to."""

    tenant_id: str
    legal_name: str
    display_name: str
    industry: str
    entity_type: str
    fiscal_year_start_month: int = Field(ge=1, le=12)
    currency: str
    address: str
    website: str | None = None
    onboarding_status: Literal["invited", "connecting_accounts", "active"]


class Vendor(_Model):
    """A vendor in one tenant's books. ``revision`` counts the writes it has seen."""

    vendor_id: str
    tenant_id: str
    name: str
    website: str | None = None
    phone: str | None = None
    address: str | None = None
    mcc: str | None = None
    default_category: str | None = None
    revision: int = 1


class VendorList(_Model):
    vendors: list[Vendor]


class VendorUpsert(_Model):
    """Create a vendor or update the one with ``vendor_id`` (or else the same name)."""

    vendor_id: str | None = Field(default=None, description="Update this vendor if given.")
    name: str = Field(min_length=1, max_length=200)
    website: str | None = None
    phone: str | None = None
    address: str | None = None
    mcc: str | None = Field(default=None, pattern=r"^\d{4}$")
    default_category: str | None = Field(default=None, description="An account code.")


class VendorWrite(_Model):
    """The outcome of an upsert: the vendor as stored and whether it was new."""

    vendor: Vendor
    created: bool


class Transaction(_Model):
    """A bank or card transaction. ``amount`` is positive; ``direction`` says which way."""

    transaction_id: str
    tenant_id: str
    posted_on: date
    descriptor: str = Field(description="The raw bank descriptor, as the bank sent it.")
    amount: Decimal
    currency: str
    direction: Literal["debit", "credit"]
    category: str | None = Field(default=None, description="Account code, if categorized.")
    vendor_id: str | None = None


class TransactionPage(_Model):
    transactions: list[Transaction]
    total_matching: int


class Account(_Model):
    """One line of the chart of accounts."""

    code: str
    name: str
    type: AccountType


class ChartOfAccounts(_Model):
    accounts: list[Account]


class SpendGroup(_Model):
    """Spend of one group; ``transaction_ids`` are exactly the records summed."""

    key: str
    total: Decimal
    count: int
    transaction_ids: list[str]


class SpendReport(_Model):
    """Outflows (debits) summed by code, never by the model."""

    tenant_id: str
    group_by: Literal["vendor", "category", "month"]
    currency: str
    date_from: date | None
    date_to: date | None
    groups: list[SpendGroup]
    total: Decimal
    transaction_ids: list[str]
