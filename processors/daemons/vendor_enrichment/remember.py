"""What a passed (or approved) vendor enrichment leaves in memory: one fact per known field
of the vendor and one episode (the descriptor that was researched and what came out).

Code only: the model's output reaches memory through the published, checked ``VendorEnriched``
record, only when :func:`~processors.memory.writer.approval` says it was passed or approved,
and only when no value reads as an instruction (the prompt-injection screen runs again here:
memory is replayed into later prompts, so it must never carry one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from processors.daemons.vendor_enrichment.models import VALUE_FIELDS
from processors.errors import MemoryWriteRefused
from processors.guardrails.screen import screen_text
from processors.memory.aliases import alias_attribute
from processors.memory.records import (
    Episode,
    MemoryRecord,
    Provenance,
    SourcePosition,
    from_millis,
)
from processors.memory.writer import approval

DAEMON = "vendor-enrichment"


def vendor_entity(enriched: Mapping[str, Any]) -> str | None:
    """The vendor's id in memory: the ledger's vendor id when written back, else the
    normalized name; ``None`` when nothing was established."""
    if enriched.get("vendor_id"):
        return str(enriched["vendor_id"])
    name = (enriched.get("name") or {}).get("value")
    normalized = " ".join(str(name or "").lower().split())
    return normalized or None


def _business_id(enriched: Mapping[str, Any]) -> str | None:
    """The directory entry the result was read from (its ``searchDirectory:<id>`` source)."""
    for source in enriched.get("sources") or ():
        tool, _, record_id = str(source).partition(":")
        if tool == "searchDirectory" and record_id:
            return record_id
    return None


def remember(
    published: Mapping[str, Any],
    outcome: Mapping[str, Any],
    source: SourcePosition,
    feedback: Mapping[str, Any] | None = None,
) -> list[MemoryRecord]:
    """The daemon's hook (``UseCase.remember``): what a result the guardrails passed (or a
    reviewer approved: ``feedback``) teaches, with where it was read as the source."""
    return vendor_memories(
        published, outcome, partition=source.partition, offset=source.offset,
        source_topic=source.topic, feedback=feedback,
    )  # fmt: skip


def _moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else from_millis(int(value))


def vendor_memories(
    enriched: Mapping[str, Any],
    outcome: Mapping[str, Any],
    *,
    partition: int,
    offset: int,
    feedback: Mapping[str, Any] | None = None,
    source_topic: str = "vendors.enriched",
) -> list[MemoryRecord]:
    """The memories of one ``vendors.enriched`` record (at ``partition``/``offset``), given its
    run's guardrail outcome (and a reviewer's feedback for a held result). Raises
    :class:`MemoryWriteRefused` when the result may not become memory. The same inputs give
    the same records (``recorded_at`` is the result's time), so writing twice is harmless."""
    if enriched.get("run_id") != outcome.get("run_id") or enriched.get("tenant_id") != outcome.get(
        "tenant_id"
    ):
        raise MemoryWriteRefused("the outcome is about another run or tenant", reason="mismatch")
    approved_by = approval(outcome, feedback)
    entity = vendor_entity(enriched)
    if entity is None:
        return []
    known = {
        field: str(enriched[field]["value"])
        for field in VALUE_FIELDS
        if (enriched.get(field) or {}).get("status") == "known"
        and enriched[field].get("value") is not None
    }
    descriptor = str(enriched.get("raw_descriptor", ""))
    for where, text in [("raw_descriptor", descriptor), *known.items()]:
        if screen_text(text):
            raise MemoryWriteRefused(
                f"run {enriched.get('run_id')}: {where} reads as an instruction", reason="flagged"
            )
    when = _moment(enriched["occurred_at"])
    common: dict[str, Any] = {
        "tenant_id": enriched["tenant_id"],
        "principal_id": enriched["principal_id"],
        "occurred_at": when,
        "entity_kind": "vendor",
        "entity_id": entity,
        "valid_from": when,
        "recorded_at": when,
        "provenance": Provenance(
            run_id=str(enriched["run_id"]),
            trace_id=str(enriched.get("trace_id", "")),
            source_topic=source_topic,
            source_partition=partition,
            source_offset=offset,
            approved_by=approved_by,
        ),
    }
    ids = {"vendor_id": enriched.get("vendor_id"), "business_id": _business_id(enriched)}
    records = [
        MemoryRecord(kind="fact", attribute=field, value=value, **common)
        for field, value in known.items()
    ]
    # the descriptor it appeared under (each variant a fact of its own) and the records it
    # is: what ``identify`` finds it by, and what the ledger must return again to answer it
    records.append(
        MemoryRecord(kind="fact", attribute=alias_attribute(descriptor), value=descriptor,
                     **common)
    )  # fmt: skip
    records += [
        MemoryRecord(kind="fact", attribute=name, value=str(value), **common)
        for name, value in ids.items()
        if value
    ]
    records.append(
        MemoryRecord(
            kind="episode",
            attribute=DAEMON,
            episode=Episode(
                input_summary=f"bank descriptor {descriptor}",
                output=json.dumps(known, sort_keys=True),
                verdict="pass" if approved_by == "guardrails" else "approve",
            ),
            **common,
        )
    )
    return records
