"""Memory: facts and episodes the daemons learned, on a compacted topic, in rebuildable stores.

- :mod:`records`: the records and their keys (``memory.facts``)
- :mod:`port`: the :class:`Embedder` and :class:`MemoryStore` protocols, :class:`Hit`
- :mod:`sqlite_store`: the embedded store (one SQLite file, sqlite-vec + FTS5; its file in
  :mod:`sqlite_db`, its retrievers in :mod:`sqlite_search`); :mod:`postgres_store`: pgvector
- :mod:`reading`: what every store's reads share
- :mod:`evaluation`: the memory eval (labeled questions to a store, scored per category)
- :mod:`embedders`: MiniLM on numpy (offline) and OpenAI-compatible ``/v1/embeddings``
- :mod:`materializer`: ``memory.facts`` into a store; resume and rebuild
- :mod:`writer`: code-only writes from passed or approved results
"""

from processors.memory.port import Embedder, Hit, MemoryStore
from processors.memory.records import (
    ENTITY_KINDS,
    EntityKind,
    Episode,
    MemoryKind,
    MemoryRecord,
    Provenance,
    SourcePosition,
)

__all__ = [
    "ENTITY_KINDS",
    "Embedder",
    "EntityKind",
    "Episode",
    "Hit",
    "MemoryKind",
    "MemoryRecord",
    "MemoryStore",
    "Provenance",
    "SourcePosition",
]
