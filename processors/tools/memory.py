"""Memory as tools: ``recall``, ``facts`` and ``identify``, offered to an agent like any other tool.

Made by reflection over two handlers (:func:`~processors.tools.reflection.reflect`), so they
are allowlisted per daemon by name (``UseCase.tools``), their calls become ``execute_tool``
spans and run-record entries, and what they return is fenced as untrusted data in the prompt
— a memory is what a past run's input said, and was once somebody's text.

The tenant is never an argument the model sees: the handlers take the call's
:class:`~processors.tools.base.CallContext`, injected at call time, and every store query is
filtered by its tenant in the store's own SQL.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from processors.memory.aliases import alias_attribute, is_alias
from processors.memory.port import Hit, MemoryStore
from processors.memory.records import EntityKind, MemoryKind, MemoryRecord
from processors.tools.base import CallContext, Tool
from processors.tools.reflection import reflect

MAX_K = 20  # a model asking for more gets this many: a prompt is no place for a dump
TOOL_NAMES = ("recall", "facts", "identify")


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


class Identified(BaseModel):
    """What this tenant knows of the entity behind an alias: its id and current facts when
    exactly one entity was learned under that very alias, else none (and look-alikes, with
    the current facts of the entities they are about: what a near match is judged by)."""

    alias: str = Field(default="", description="the alias asked about, as asked")
    entity_id: str | None
    current: dict[str, str] = Field(
        default_factory=dict, description="the entity's current facts by attribute"
    )
    memories: list[Remembered] = Field(default_factory=list)
    similar: list[Remembered] = Field(
        default_factory=list, description="memories about other entities that look alike"
    )
    others: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="the current facts (aliases too) of each entity a look-alike is about",
    )


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


def _current(records: list[MemoryRecord]) -> dict[str, str]:
    """An entity's current facts by attribute, its aliases left out."""
    return {
        r.attribute: r.value for r in records if r.value is not None and not is_alias(r.attribute)
    }


def memory_tools(store: MemoryStore) -> dict[str, Tool]:
    """``recall``, ``facts`` and ``identify`` over ``store``, each called for the event's
    tenant only. A read runs in a worker thread (a search must not hold up the event loop's
    other events); a store serializes its own connection's use (the materializer applies
    from its thread while the daemon reads)."""

    async def read(fn: Any, *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(store, fn), *args, **kwargs)

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
        hits: list[Hit] = await read(
            "search", ctx.tenant_id, query[:500], kinds=kinds, entity_kind=entity_kind,
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
        records: list[MemoryRecord] = await read(
            "facts", ctx.tenant_id, entity_kind, entity_id[:200], as_of=as_of
        )
        return Recalled(memories=[remembered(r) for r in records])

    async def identify(entity_kind: EntityKind, alias: str, ctx: CallContext) -> Identified:
        """The entity this tenant's daemons learned under exactly this alias (a vendor's bank
        descriptor, say), with its current facts; look-alikes when none or several were.

        Args:
            entity_kind: vendor, client, account or question.
            alias: The name as it appeared, e.g. a raw bank descriptor.
        """
        alias = alias[:500]
        marker = f":{alias_attribute(alias)}:"
        prefix = f"{ctx.tenant_id}:{entity_kind}:"
        owners = sorted({
            key[len(prefix):].split(":", 1)[0]
            for key in await read("keys", ctx.tenant_id, entity_kind)
            if key.startswith(prefix) and marker in key
        })  # fmt: skip
        if len(owners) == 1:
            [entity] = owners
            records: list[MemoryRecord] = await read("facts", ctx.tenant_id, entity_kind, entity)
            return Identified(
                alias=alias, entity_id=entity, current=_current(records),
                memories=[remembered(r) for r in records],
            )  # fmt: skip
        hits: list[Hit] = await read(
            "search", ctx.tenant_id, alias, kinds=["fact"], entity_kind=entity_kind, k=5
        )
        others = {}
        for entity in dict.fromkeys(h.record.entity_id for h in hits):  # in rank order
            records = await read("facts", ctx.tenant_id, entity_kind, entity)
            others[entity] = {r.attribute: r.value for r in records if r.value is not None}
        return Identified(
            alias=alias, entity_id=None, similar=[remembered(h.record, h.score) for h in hits],
            others=others,
        )  # fmt: skip

    return dict(reflect([recall, facts, identify]))
