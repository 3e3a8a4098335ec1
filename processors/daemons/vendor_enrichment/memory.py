"""What a passed vendor enrichment teaches: facts about the vendor (its name, website,
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

from processors.daemons.vendor_enrichment.models import VendorProfile
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
