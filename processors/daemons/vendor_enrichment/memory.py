"""What a passed vendor enrichment teaches, and how a vendor this tenant already has is
answered from memory.

What it teaches: facts about the vendor (its name, website,
account, and the bank descriptor it appeared under) and the decision as an episode.

Code builds them from the published output, never from the model's words: only fields the
checks left known are remembered. A vendor is remembered by the ledger's id (after the
write-back), else the directory entry's; a result that names neither teaches nothing. Each
descriptor variant is a fact of its own (its attribute names the variant), so a new variant
adds to what is known instead of superseding the last one (:mod:`processors.memory.aliases`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from processors.daemons.usecase import Recall
from processors.daemons.vendor_enrichment.checks import read_leaves
from processors.daemons.vendor_enrichment.models import VendorChoice, VendorProfile
from processors.llm.model import ToolCall
from processors.memory import Episode, MemoryRecord, Provenance
from processors.memory.aliases import alias_attribute
from processors.tools.evidence import ToolEvidence

REMEMBERED = ("name", "website", "phone", "account_category", "merchant_category_code")
IDS = ("business_id", "vendor_id")  # the directory entry and the ledger's vendor record


def _moment(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def remember(
    event: Mapping[str, Any],
    output: VendorProfile,
    evidence: Sequence[ToolEvidence],
    source: Provenance,
) -> list[MemoryRecord]:
    entity = output.vendor_id or output.existing_vendor_id or output.business_id
    if not entity:
        return []
    when = _moment(event["occurred_at"])
    common: dict[str, Any] = {
        "tenant_id": str(event["tenant_id"]), "principal_id": str(event["principal_id"]),
        "occurred_at": when, "entity_kind": "vendor", "entity_id": entity,
        "valid_from": when, "recorded_at": dt.datetime.now(dt.UTC), "provenance": source,
    }  # fmt: skip
    descriptor = str(event["raw_descriptor"])
    facts = [
        MemoryRecord(kind="fact", attribute=alias_attribute(descriptor), value=descriptor,
                     **common),
        *(
            MemoryRecord(kind="fact", attribute=field, value=value, **common)
            for field in REMEMBERED
            if (value := output.value(field)) is not None
        ),
        *(
            MemoryRecord(kind="fact", attribute=field, value=value, **common)
            for field in IDS
            if (value := getattr(output, field)) is not None
        ),
    ]  # fmt: skip
    known = {field: output.value(field) for field in REMEMBERED if output.value(field)}
    episode = Episode(
        input_summary=descriptor[:300], output=json.dumps(known, sort_keys=True), verdict="pass"
    )
    return [*facts, MemoryRecord(kind="episode", attribute="enrichment", episode=episode, **common)]


# --- reading it back -------------------------------------------------------------------


def identify_descriptor(event: Mapping[str, Any]) -> list[ToolCall]:
    """The memory read made first: the vendor learned under exactly this descriptor."""
    alias = str(event["raw_descriptor"])
    arguments = {"entity_kind": "vendor", "alias": alias}
    return [ToolCall(id="recall-vendor", name="identify", arguments=arguments)]


def identified(evidence: Sequence[ToolEvidence]) -> Mapping[str, Any] | None:
    """What ``identify`` returned of the one entity it found, else None."""
    for item in evidence:
        result = item.result
        if item.tool == "identify" and item.error is None and isinstance(result, Mapping):
            return result if result.get("entity_id") is not None else None
    return None


def settle(event: Mapping[str, Any], evidence: Sequence[ToolEvidence]) -> VendorChoice | None:
    """A vendor remembered under this very descriptor, answered without the model — once
    this run's directory search and vendor list return its entry and record again (memory
    proposes, the ledger confirms; otherwise the model is asked, with the memory shown)."""
    found = identified(evidence)
    if found is None:
        return None
    current: Mapping[str, str] = found.get("current") or {}
    business, vendor = current.get("business_id"), current.get("vendor_id")
    if business is None and vendor is None:
        return None
    confirmed = set(read_leaves(evidence))  # the ledger's reads of this run, not memory's
    if business is not None and ("business_id", business) not in confirmed:
        return None
    if vendor is not None and ("vendor_id", vendor) not in confirmed:
        return None
    return VendorChoice(
        business_id=business, existing_vendor_id=vendor, name=current.get("name"),
        account_category=current.get("account_category"),
    )  # fmt: skip


def memory_sources(evidence: Sequence[ToolEvidence]) -> dict[str, tuple[str, str]]:
    """The identified vendor's facts, attribute -> (value, memory id): the citations of a
    field answered from memory."""
    found = identified(evidence)
    if found is None:
        return {}
    return {
        m["attribute"]: (str(m["value"]), str(m["memory_id"]))
        for m in found.get("memories") or ()
        if isinstance(m, Mapping) and m.get("kind") == "fact" and m.get("value") is not None
    }


RECALL = Recall(tools=("identify",), gather=identify_descriptor, settle=settle)
