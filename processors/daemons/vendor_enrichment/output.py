"""From the agent's :class:`VendorProfile` to the use-case fields of ``VendorEnriched``.

Status, confidence of unknowns and the ``sources`` lists are computed here, not by the model:
a field is ``known`` exactly when it has a value, and its sources are the record ids the agent
cited (which the checks verify were returned by this run's tools), written ``tool:record_id``
(``transaction:<id>`` for a name read off the event's own descriptor).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processors.daemons.vendor_enrichment.models import VALUE_FIELDS, VendorProfile
from processors.daemons.vendor_enrichment.recall import memory_sources
from processors.tools.evidence import ToolEvidence

_FROM_BUSINESS = frozenset(VALUE_FIELDS) - {"account_category"}


def field_sources(event: Mapping[str, Any], output: VendorProfile, field: str) -> list[str]:
    """The tool calls and record ids that support ``field``'s value (empty when unknown)."""
    if output.value(field) is None:
        return []
    sources: list[str] = []
    if field == "account_category":
        sources.append(f"listAccounts:{output.account_category}")
    elif output.business_id:
        sources.append(f"searchDirectory:{output.business_id}")
    if output.existing_vendor_id:
        sources.append(f"listVendors:{output.existing_vendor_id}")
    if not sources and field in _FROM_BUSINESS:
        # a name normalized from the bank descriptor itself, when no record matched
        sources.append(f"transaction:{event.get('transaction_id', '')}")
    return sources


def enriched_field(event: Mapping[str, Any], output: VendorProfile, field: str) -> dict[str, Any]:
    """One ``EnrichedField`` datum; unknown fields carry no value, no sources, confidence 0."""
    value = output.value(field)
    return {
        "value": value,
        "status": "known" if value is not None else "unknown",
        "confidence": output.confidence(field),
        "sources": field_sources(event, output, field),
    }


def to_output(
    event: Mapping[str, Any], output: VendorProfile, evidence: Sequence[ToolEvidence] = ()
) -> dict[str, Any]:
    """The ``VendorEnriched`` fields this use case owns (the pipeline adds ids and
    timestamps). ``evidence`` is not needed: the checked output holds what was copied from it."""
    datum: dict[str, Any] = {
        "transaction_id": event["transaction_id"],
        "raw_descriptor": event["raw_descriptor"],
        "vendor_id": output.vendor_id,
    }
    sources: list[str] = []
    remembered = memory_sources(evidence)
    for field in VALUE_FIELDS:
        datum[field] = enriched_field(event, output, field)
        value, memory_id = remembered.get(field, (None, ""))
        if value is not None and value == output.value(field):  # learned before: cite it
            datum[field]["sources"].append(f"memory:{memory_id}")
        sources.extend(s for s in datum[field]["sources"] if s not in sources)
    if output.vendor_id:
        sources.append(f"upsertVendor:{output.vendor_id}")
    datum["sources"] = sources
    return datum
