"""The write-back: the enriched vendor goes to the tenant's books through ``upsertVendor``.

Made by the daemon after the checks and the judge passed the result (a failed or held result
never reaches the books), as the event's principal, idempotent by the event id (the tool's
``Idempotency-Key``): a redelivered event updates the same vendor record.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processors.daemons.vendor_enrichment.models import VendorProfile
from processors.daemons.write_back import CallTool

# upsertVendor body field -> output field
_BODY = {
    "name": "name",
    "website": "website",
    "phone": "phone",
    "address": "address",
    "mcc": "merchant_category_code",
    "default_category": "account_category",
}


def vendor_body(output: VendorProfile) -> dict[str, Any]:
    """What the write stores: the known values only (unknown stays unknown in the books)."""
    body: dict[str, Any] = {key: output.value(f) for key, f in _BODY.items() if output.value(f)}
    if output.existing_vendor_id:
        body["vendor_id"] = output.existing_vendor_id
    return body


async def write_back(
    event: Mapping[str, Any], output: VendorProfile, call_tool: CallTool
) -> VendorProfile:
    """Write the vendor; the published record carries the id the API returned."""
    if output.name is None:  # nothing established: nothing to write
        return output.model_copy(update={"vendor_id": None})
    written = await call_tool("upsertVendor", {"vendor": vendor_body(output)})
    vendor_id = str(written["vendor"]["vendor_id"])
    return output.model_copy(update={"vendor_id": vendor_id})
