"""The ledger's handlers: plain typed functions, the single source of both its HTTP API and,
by reflection, of agent tools.

Conventions a caller must honour: parameters typed :class:`Ledger`, :class:`Principal` and
:data:`IdempotencyKey` are supplied by the caller (the HTTP layer, or a tool adapter), never by
the end user. Every handler authorizes its principal before it reads anything.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal, NewType

from pydantic import Field

from processors.reference.models import (
    ChartOfAccounts,
    Client,
    DirectoryResults,
    SpendGroup,
    SpendReport,
    Transaction,
    TransactionPage,
    Vendor,
    VendorList,
    VendorUpsert,
    VendorWrite,
)
from processors.reference.security import NotFound, Principal
from processors.reference.store import Ledger

IdempotencyKey = NewType("IdempotencyKey", str)
"""The caller's key for a write; the same key twice means one write."""

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.casefold()) if len(w) >= 2]


def search_directory(
    ledger: Ledger,
    principal: Principal,
    query: str,
    city: str | None = None,
    mcc: str | None = None,
    limit: Annotated[int, Field(ge=1, le=20)] = 5,
) -> DirectoryResults:
    """Search the shared business directory for the business behind a name or bank descriptor.

    Words of ``query`` match the start of words in business names; words naming the city add
    weight, so a whole raw descriptor such as ``SQ *BLUE BOTTLE COF 1234 OAKLAND CA`` works.

    Args:
        query: Business name words or a raw bank descriptor.
        city: Only businesses in this city (case-insensitive).
        mcc: Only businesses with this merchant category code (ISO 18245).
        limit: At most this many results.
    """
    del principal  # any authenticated principal may search the shared directory
    wanted = _words(query)
    scored: list[tuple[int, str]] = []
    for i, biz in enumerate(ledger.directory):
        if city is not None and biz.city.casefold() != city.casefold():
            continue
        if mcc is not None and biz.mcc != mcc:
            continue
        name_words, city_words = _words(biz.name), _words(biz.city)
        name_hits = sum(1 for w in wanted if any(n.startswith(w) for n in name_words))
        city_hits = sum(1 for w in wanted if w in city_words)
        if name_hits or not wanted:
            scored.append((-(2 * name_hits + city_hits), f"{i:04d}"))
    scored.sort()
    return DirectoryResults(results=[ledger.directory[int(i)] for _, i in scored[:limit]])


def get_client(ledger: Ledger, principal: Principal, tenant_id: str) -> Client:
    """Get the company profile of a tenant (legal name, industry, fiscal year, status).

    Args:
        tenant_id: The tenant whose company to read.
    """
    principal.require_tenant(tenant_id)
    client = ledger.clients.get(tenant_id)
    if client is None:
        raise NotFound(f"tenant {tenant_id} not found")
    return client


def _matching(
    rows: Iterable[Transaction],
    tenant_id: str,
    descriptor: str | None,
    date_from: date | None,
    date_to: date | None,
    category: str | None,
    vendor_id: str | None,
) -> list[Transaction]:
    needle = descriptor.casefold() if descriptor else None
    return [
        t
        for t in rows
        if t.tenant_id == tenant_id
        and (needle is None or needle in t.descriptor.casefold())
        and (date_from is None or t.posted_on >= date_from)
        and (date_to is None or t.posted_on <= date_to)
        and (category is None or t.category == category)
        and (vendor_id is None or t.vendor_id == vendor_id)
    ]


def list_transactions(
    ledger: Ledger,
    principal: Principal,
    tenant_id: str,
    descriptor: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    category: str | None = None,
    vendor_id: str | None = None,
    limit: Annotated[int, Field(ge=1, le=200)] = 50,
) -> TransactionPage:
    """List a tenant's bank transactions, oldest first, optionally filtered.

    Args:
        tenant_id: The tenant whose transactions to list.
        descriptor: Only transactions whose raw descriptor contains this text.
        date_from: Only transactions posted on or after this date.
        date_to: Only transactions posted on or before this date.
        category: Only transactions in this account code.
        vendor_id: Only transactions of this vendor.
        limit: At most this many transactions.
    """
    principal.require_tenant(tenant_id)
    found = _matching(
        ledger.transactions, tenant_id, descriptor, date_from, date_to, category, vendor_id
    )
    found.sort(key=lambda t: (t.posted_on, t.transaction_id))
    return TransactionPage(transactions=found[:limit], total_matching=len(found))


def list_vendors(
    ledger: Ledger, principal: Principal, tenant_id: str, name: str | None = None
) -> VendorList:
    """List a tenant's vendors.

    Args:
        tenant_id: The tenant whose vendors to list.
        name: Only vendors whose name contains this text (case-insensitive).
    """
    principal.require_tenant(tenant_id)
    needle = name.casefold() if name else ""
    vendors = [
        v
        for v in ledger.vendors.values()
        if v.tenant_id == tenant_id and needle in v.name.casefold()
    ]
    return VendorList(vendors=sorted(vendors, key=lambda v: v.vendor_id))


def get_vendor(ledger: Ledger, principal: Principal, tenant_id: str, vendor_id: str) -> Vendor:
    """Get one vendor of a tenant.

    Args:
        tenant_id: The tenant the vendor belongs to.
        vendor_id: The vendor's id.
    """
    principal.require_tenant(tenant_id)
    vendor = ledger.vendors.get(vendor_id)
    if vendor is None or vendor.tenant_id != tenant_id:
        raise NotFound(f"vendor {vendor_id} not found")
    return vendor


def upsert_vendor(
    ledger: Ledger,
    principal: Principal,
    tenant_id: str,
    vendor: VendorUpsert,
    idempotency_key: IdempotencyKey | None = None,
) -> VendorWrite:
    """Create a vendor, or update the one with the given id or the same name.

    Writing needs the admin or bookkeeper role. Repeating a request with the same
    idempotency key returns the first result without writing again.

    Args:
        tenant_id: The tenant whose vendor to write.
        vendor: The vendor's fields; fields left out are kept as they are.
    """
    principal.require_write(tenant_id)
    result, _replayed = ledger.upsert_vendor(tenant_id, vendor, idempotency_key)
    return result


def list_accounts(ledger: Ledger, principal: Principal, tenant_id: str) -> ChartOfAccounts:
    """List a tenant's chart of accounts (code, name, type).

    Args:
        tenant_id: The tenant whose chart of accounts to list.
    """
    principal.require_tenant(tenant_id)
    if tenant_id not in ledger.clients:
        raise NotFound(f"tenant {tenant_id} not found")
    return ChartOfAccounts(accounts=ledger.accounts(tenant_id))


def aggregate_spend(
    ledger: Ledger,
    principal: Principal,
    tenant_id: str,
    group_by: Literal["vendor", "category", "month"] = "category",
    date_from: date | None = None,
    date_to: date | None = None,
    category: str | None = None,
    vendor_id: str | None = None,
) -> SpendReport:
    """Sum a tenant's spend (debits) by vendor, category or month.

    Totals are computed by the ledger and come with the ids of the transactions summed.
    Uncategorized or vendorless spend is grouped under ``"none"``.

    Args:
        tenant_id: The tenant whose spend to sum.
        group_by: What to group by.
        date_from: Only spend posted on or after this date.
        date_to: Only spend posted on or before this date.
        category: Only spend in this account code.
        vendor_id: Only spend with this vendor.
    """
    principal.require_tenant(tenant_id)
    rows = _matching(ledger.transactions, tenant_id, None, date_from, date_to, category, vendor_id)
    debits = sorted((t for t in rows if t.direction == "debit"), key=lambda t: t.transaction_id)
    groups: dict[str, list[Transaction]] = defaultdict(list)
    for t in debits:
        if group_by == "month":
            key = t.posted_on.strftime("%Y-%m")
        else:
            key = (t.vendor_id if group_by == "vendor" else t.category) or "none"
        groups[key].append(t)
    return SpendReport(
        tenant_id=tenant_id,
        group_by=group_by,
        currency="USD",
        date_from=date_from,
        date_to=date_to,
        groups=[
            SpendGroup(
                key=key,
                total=sum((t.amount for t in members), Decimal("0")),
                count=len(members),
                transaction_ids=[t.transaction_id for t in members],
            )
            for key, members in sorted(groups.items())
        ],
        total=sum((t.amount for t in debits), Decimal("0")),
        transaction_ids=[t.transaction_id for t in debits],
    )


ALL = (
    search_directory,
    get_client,
    list_transactions,
    list_vendors,
    get_vendor,
    upsert_vendor,
    list_accounts,
    aggregate_spend,
)
"""Every handler, in the order the API documents them."""
