"""One store used from several threads (the materializer's and the daemon's event loop):
every call goes through one lock, so a connection is never used by two threads at once."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from processors.memory.port import Embedder, Hit, MemoryStore
from processors.memory.records import EntityKind, MemoryKind, MemoryRecord


class Shared:
    """A :class:`~processors.memory.port.MemoryStore` whose calls are serialized."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        return self._store.embedder

    def apply(self, key: str, record: MemoryRecord | None, *, partition: int, offset: int) -> bool:
        with self._lock:
            return self._store.apply(key, record, partition=partition, offset=offset)

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
        with self._lock:
            return self._store.search(
                tenant_id, query, kinds=kinds, entity_kind=entity_kind, k=k, as_of=as_of
            )

    def facts(
        self,
        tenant_id: str,
        entity_kind: EntityKind,
        entity_id: str,
        *,
        as_of: datetime | None = None,
    ) -> list[MemoryRecord]:
        with self._lock:
            return self._store.facts(tenant_id, entity_kind, entity_id, as_of=as_of)

    def keys(
        self, tenant_id: str, entity_kind: EntityKind | None = None, entity_id: str | None = None
    ) -> list[str]:
        with self._lock:
            return self._store.keys(tenant_id, entity_kind, entity_id)

    def positions(self) -> dict[int, int]:
        with self._lock:
            return self._store.positions()

    def digest(self) -> str:
        with self._lock:
            return self._store.digest()

    def close(self) -> None:
        with self._lock:
            self._store.close()
