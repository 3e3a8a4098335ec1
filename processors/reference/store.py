"""The ledger's storage: an in-memory, thread-safe stand-in for a database."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from processors.reference import data
from processors.reference.models import (
    Account,
    Business,
    Client,
    Transaction,
    Vendor,
    VendorUpsert,
    VendorWrite,
)
from processors.reference.security import Conflict, NotFound


@dataclass
class Ledger:
    """All tenants' books plus the shared directory. Writes go through :meth:`upsert_vendor`."""

    clients: dict[str, Client]
    directory: list[Business]
    transactions: list[Transaction]
    vendors: dict[str, Vendor]
    writes: int = 0
    _idempotency: dict[tuple[str, str], tuple[VendorUpsert, VendorWrite]] = field(
        default_factory=dict
    )
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def sample(cls) -> Ledger:
        """A fresh ledger holding the sample data of three tenants."""
        return cls(
            clients={c.tenant_id: c for c in data.CLIENTS},
            directory=data.directory(),
            transactions=data.transactions(),
            vendors={v.vendor_id: v for v in data.vendors()},
        )

    def accounts(self, tenant_id: str) -> list[Account]:
        return data.accounts(tenant_id)

    def upsert_vendor(
        self, tenant_id: str, change: VendorUpsert, idempotency_key: str | None
    ) -> tuple[VendorWrite, bool]:
        """Apply ``change``; return the result and whether it is a replay of an earlier write."""
        with self._lock:
            if idempotency_key is not None:
                earlier = self._idempotency.get((tenant_id, idempotency_key))
                if earlier is not None:
                    if earlier[0] != change:
                        raise Conflict("idempotency key reused with a different request")
                    return earlier[1], True
            current = self._find(tenant_id, change)
            fields = change.model_dump(exclude={"vendor_id"}, exclude_unset=True)
            if current is None:
                number = sum(1 for v in self.vendors.values() if v.tenant_id == tenant_id) + 1
                vendor_id = change.vendor_id or f"v-{tenant_id.removeprefix('t-')[:1]}-{number:02d}"
                vendor = Vendor(vendor_id=vendor_id, tenant_id=tenant_id, **fields)
            else:
                vendor = current.model_copy(update={**fields, "revision": current.revision + 1})
            self.vendors[vendor.vendor_id] = vendor
            self.writes += 1
            result = VendorWrite(vendor=vendor, created=current is None)
            if idempotency_key is not None:
                self._idempotency[(tenant_id, idempotency_key)] = (change, result)
            return result, False

    def _find(self, tenant_id: str, change: VendorUpsert) -> Vendor | None:
        if change.vendor_id is not None:
            found = self.vendors.get(change.vendor_id)
            if found is None or found.tenant_id != tenant_id:
                raise NotFound(f"vendor {change.vendor_id} not found")
            return found
        wanted = change.name.casefold().strip()
        for vendor in self.vendors.values():
            if vendor.tenant_id == tenant_id and vendor.name.casefold() == wanted:
                return vendor
        return None
