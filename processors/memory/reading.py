"""What every store's reads share, whatever the database: the argument rules, how many
candidates a search gathers, "now", the ``keys`` query and the hits of a fused ranking.

A store implements the port's reads in its own SQL; the rules here are the port's, so two
stores cannot drift apart on them (the conformance suite checks the results).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from processors.errors import MemoryStoreError
from processors.memory.port import Hit
from processors.memory.records import EntityKind, MemoryKind, MemoryRecord


def require_tenant(tenant_id: str, read: str) -> None:
    """Every read names its tenant (it is filtered in the store's query)."""
    if not tenant_id:
        raise MemoryStoreError(f"{read} needs a tenant")


def search_pool(tenant_id: str, kinds: Sequence[MemoryKind] | None, k: int) -> int | None:
    """How many candidates each retriever gathers for ``k`` fused hits; ``None`` when there
    is nothing to search (``k`` of 0 or less, or an empty list of kinds)."""
    require_tenant(tenant_id, "search")
    if k <= 0 or (kinds is not None and not kinds):
        return None
    return max(4 * k, 20)


def moment(as_of: datetime | None) -> datetime:
    """The time a read is at: ``as_of``, or now (a fact valid until a later date is current,
    one valid from a later date is not yet)."""
    return as_of if as_of is not None else datetime.now(UTC)


def keys_query(
    tenant_id: str, entity_kind: EntityKind | None, entity_id: str | None, mark: str
) -> tuple[str, list[str]]:
    """The ``keys`` query (``mark``: the driver's placeholder) and its parameters."""
    require_tenant(tenant_id, "keys")
    if entity_id is not None and entity_kind is None:
        raise MemoryStoreError("an entity id needs its entity kind")
    sql = f"select key from memories where tenant_id = {mark}"
    params = [tenant_id]
    for column, value in (("entity_kind", entity_kind), ("entity_id", entity_id)):
        if value is not None:
            sql += f" and {column} = {mark}"
            params.append(value)
    return sql + " order by key", params


def hits(
    fused: Sequence[tuple[str, float]],
    records: Mapping[str, MemoryRecord],
    by_vector: Sequence[str],
    by_keyword: Sequence[str],
) -> list[Hit]:
    """The fused ranking as hits, each with its rank in either retriever."""
    vector_rank = {key: rank for rank, key in enumerate(by_vector, start=1)}
    keyword_rank = {key: rank for rank, key in enumerate(by_keyword, start=1)}
    return [
        Hit(key, records[key], score, vector_rank.get(key), keyword_rank.get(key))
        for key, score in fused
    ]
