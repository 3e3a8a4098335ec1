"""The memory port: what a store and an embedder promise, whatever is behind them.

A :class:`MemoryStore` is materialized from the ``memory.facts`` topic (its only writer is
:meth:`MemoryStore.apply`) and answers three kinds of reads. The tenant is a required argument
of every read and is filtered *in the store's query*, never by the caller afterwards. Stores
embed at materialization with their configured :class:`Embedder` and keep the model's name
and dimension with every vector; opening a store with another model re-embeds on rebuild
instead of mixing vector spaces.

Adding a store: implement :class:`MemoryStore` and add a fixture to the conformance suite's
``STORES`` list (``tests/memory/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from processors.memory.records import EntityKind, MemoryKind, MemoryRecord


@runtime_checkable
class Embedder(Protocol):
    """Text to vectors. The same text always gives the same vector (no sampling, no batching
    effects), so a rebuild from the same offsets reproduces the same store."""

    @property
    def name(self) -> str:
        """The model's name, stored with every vector."""
        ...

    @property
    def dimension(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector of ``dimension`` floats per text, in order."""
        ...


@dataclass(frozen=True)
class Hit:
    """One search result: the record, its key, the fused score and the ranks behind it
    (``None`` where that retriever did not find it)."""

    key: str
    record: MemoryRecord
    score: float
    vector_rank: int | None
    keyword_rank: int | None


@runtime_checkable
class MemoryStore(Protocol):
    """A materialized view of ``memory.facts``."""

    @property
    def embedder(self) -> Embedder: ...

    def apply(self, key: str, record: MemoryRecord | None, *, partition: int, offset: int) -> bool:
        """Materialize one message (``None``: a tombstone, delete the key), in one transaction
        with the partition's next offset. Idempotent: a message at an offset below the stored
        position is skipped. Returns whether it was applied. Supersession is computed here,
        deterministically: a newer ``valid_from`` for the same tenant, entity and attribute
        closes the older fact."""
        ...

    def search(
        self,
        tenant_id: str,
        query: str,
        *,
        kinds: Sequence[MemoryKind] | None = None,
        entity_kind: EntityKind | None = None,
        k: int = 5,
        as_of: datetime | None = None,
    ) -> list[Hit]:
        """Hybrid search (vectors and keywords, fused by reciprocal rank) over this tenant's
        memories; facts valid at ``as_of`` (``None``: now — begun, not superseded, not ended)
        only."""
        ...

    def facts(
        self,
        tenant_id: str,
        entity_kind: EntityKind,
        entity_id: str,
        *,
        as_of: datetime | None = None,
    ) -> list[MemoryRecord]:
        """The entity's facts valid at ``as_of`` (``None``: the current ones), by attribute."""
        ...

    def keys(
        self, tenant_id: str, entity_kind: EntityKind | None = None, entity_id: str | None = None
    ) -> list[str]:
        """Every stored key of a tenant (or one entity of it): what ``forget`` tombstones."""
        ...

    def positions(self) -> dict[int, int]:
        """The next offset to read, per partition of ``memory.facts``."""
        ...

    def digest(self) -> str:
        """A hash of the content (records, vectors, positions): equal after replaying the same
        offsets into a fresh store."""
        ...

    def close(self) -> None: ...
