"""Builders of memory records and a feed that applies them like the materializer: for tests
of the memory stores (ours and other packages')."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from processors.memory.port import Embedder, MemoryStore
from processors.memory.records import EntityKind, Episode, MemoryRecord, Provenance

StoreFactory = Callable[[Embedder], MemoryStore]
"""A fresh, empty store per call, embedding with the given embedder."""


def at(day: int, month: int = 1, year: int = 2026) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def provenance(
    run_id: str = "run-1", offset: int = 0, approved_by: str = "guardrails"
) -> Provenance:
    return Provenance(
        run_id=run_id,
        trace_id="0" * 32,
        source_topic="vendors.enriched",
        source_partition=0,
        source_offset=offset,
        approved_by=approved_by,
    )


def fact(
    tenant: str,
    entity_id: str,
    attribute: str,
    value: str,
    valid_from: datetime,
    *,
    entity_kind: EntityKind = "vendor",
    valid_to: datetime | None = None,
    run_id: str = "run-1",
) -> MemoryRecord:
    return MemoryRecord(
        tenant_id=tenant,
        principal_id="svc-ledger",
        occurred_at=valid_from,
        kind="fact",
        entity_kind=entity_kind,
        entity_id=entity_id,
        attribute=attribute,
        value=value,
        valid_from=valid_from,
        valid_to=valid_to,
        recorded_at=valid_from,
        provenance=provenance(run_id),
    )


def episode(
    tenant: str, entity_id: str, summary: str, output: str, *, run_id: str, when: datetime
) -> MemoryRecord:
    return MemoryRecord(
        tenant_id=tenant,
        principal_id="svc-ledger",
        occurred_at=when,
        kind="episode",
        entity_kind="question",
        entity_id=entity_id,
        attribute="question-answering",
        valid_from=when,
        recorded_at=when,
        episode=Episode(input_summary=summary, output=output, verdict="pass"),
        provenance=provenance(run_id),
    )


class Feed:
    """Applies records to a store as the materializer would: one partition, rising offsets."""

    def __init__(self, store: MemoryStore, partition: int = 0) -> None:
        self.store = store
        self.partition = partition
        self.offset = 0

    def put(self, *records: MemoryRecord) -> None:
        for record in records:
            assert self.store.apply(
                record.key, record, partition=self.partition, offset=self.offset
            )
            self.offset += 1

    def tombstone(self, key: str) -> None:
        assert self.store.apply(key, None, partition=self.partition, offset=self.offset)
        self.offset += 1
