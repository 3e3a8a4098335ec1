"""Memory as tools: ``recall`` and ``facts``, offered to an agent like any other tool.

Made by reflection over two handlers (:func:`~processors.tools.reflection.reflect`), so they
are allowlisted per daemon by name (``UseCase.tools``), their calls become ``execute_tool``
spans and run-record entries, and what they return is fenced as untrusted data in the prompt
— a memory is what a past run's input said, and was once somebody's text.

The tenant is never an argument the model sees: the handlers take the call's
:class:`~processors.tools.base.CallContext`, injected at call time, and every store query is
filtered by its tenant in the store's own SQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from processors.memory.port import Hit, MemoryStore
from processors.memory.records import EntityKind, MemoryKind, MemoryRecord
from processors.tools.base import CallContext, Tool
from processors.tools.reflection import reflect

MAX_K = 20  # a model asking for more gets this many: a prompt is no place for a dump
TOOL_NAMES = ("recall", "facts")


class Remembered(BaseModel):
    """One memory as a tool returns it: what it says, when it held, and where it came from."""

    memory_id: str
    kind: MemoryKind
    entity_kind: EntityKind
    entity_id: str
    attribute: str
    value: str | None = None
    episode: dict[str, str] | None = None
    valid_from: str
    valid_to: str | None = None
    approved_by: str
    source: str = Field(description="topic/partition/offset of the result it was learned from")
    score: float | None = None


class Recalled(BaseModel):
    memories: list[Remembered]


def remembered(record: MemoryRecord, score: float | None = None) -> Remembered:
    source = record.provenance
    return Remembered(
        memory_id=record.memory_id, kind=record.kind, entity_kind=record.entity_kind,
        entity_id=record.entity_id, attribute=record.attribute, value=record.value,
        episode=record.episode.model_dump() if record.episode is not None else None,
        valid_from=record.valid_from.isoformat(),
        valid_to=record.valid_to.isoformat() if record.valid_to is not None else None,
        approved_by=source.approved_by,
        source=f"{source.source_topic}/{source.source_partition}/{source.source_offset}",
        score=score,
    )  # fmt: skip


def memory_tools(store: MemoryStore) -> dict[str, Tool]:
    """``recall`` and ``facts`` over ``store``, each called for the event's tenant only. The
    store is read on the event loop's thread (an SQLite connection belongs to the thread that
    opened it): a search of the embedded store takes milliseconds (``benchmarks/memory.py``)."""

    def read(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def recall(
        query: str,
        ctx: CallContext,
        kinds: list[MemoryKind] | None = None,
        entity_kind: EntityKind | None = None,
        k: int = 5,
    ) -> Recalled:
        """Search what this tenant's daemons learned before (facts about vendors, clients,
        accounts; past decisions), by meaning and by keyword.

        Args:
            query: What to look for, e.g. a bank descriptor or a question.
            kinds: "fact", "episode" or both (default both).
            entity_kind: Only memories about this kind of entity.
            k: How many memories at most (up to 20).
        """
        hits: list[Hit] = read(
            store.search, ctx.tenant_id, query[:500], kinds=kinds, entity_kind=entity_kind,
            k=max(1, min(k, MAX_K)),
        )  # fmt: skip
        return Recalled(memories=[remembered(h.record, round(h.score, 6)) for h in hits])

    async def facts(
        entity_kind: EntityKind, entity_id: str, ctx: CallContext, as_of: datetime | None = None
    ) -> Recalled:
        """The current facts about one entity of this tenant (or those valid at a time).

        Args:
            entity_kind: vendor, client, account or question.
            entity_id: The entity's id, e.g. a vendor id.
            as_of: A past moment (ISO 8601 with a time zone); default: now.
        """
        records: list[MemoryRecord] = read(
            store.facts, ctx.tenant_id, entity_kind, entity_id[:200], as_of=as_of
        )
        return Recalled(memories=[remembered(r) for r in records])

    return dict(reflect([recall, facts]))
