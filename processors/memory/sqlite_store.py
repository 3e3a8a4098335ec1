"""The embedded memory store: one SQLite file, ``sqlite-vec`` for vectors, FTS5 for keywords.

One transaction per :meth:`SqliteMemoryStore.apply`, positions included. The file, its layout
and its lock are :mod:`.sqlite_db`; the two retrievers (nearest vectors, then exact cosine;
BM25 keywords) and the filter they share are :mod:`.sqlite_search`; their rankings are fused
by reciprocal rank (:func:`~processors.memory.ranking.fuse`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from processors.errors import MemoryStoreError
from processors.memory.port import Embedder, Hit
from processors.memory.ranking import fuse, terms
from processors.memory.reading import hits, keys_query, moment, require_tenant, search_pool
from processors.memory.records import EntityKind, MemoryKind, MemoryRecord, to_millis
from processors.memory.sqlite_db import LAYOUT, OPEN_END, SCHEMA, connect, locked
from processors.memory.sqlite_search import (
    by_keyword,
    filters,
    fts_query,
    informative,
    nearest,
)
from processors.settings import Settings

__all__ = ["SqliteMemoryStore", "fresh_store", "fts_query", "open_store", "store_path"]


class SqliteMemoryStore:
    """A :class:`~processors.memory.port.MemoryStore` in one SQLite file.

    Opening a file whose vectors were made by another model (or dimension) re-embeds them with
    ``embedder`` before anything else happens: vectors of two models are never compared.

    ``reuse`` names an older store file (a rebuild's predecessor): a text it holds a vector of
    from the same model is not embedded again. The same text gives the same vector, so the
    result is the one a full re-embedding gives, only sooner."""

    def __init__(self, path: Path | str, embedder: Embedder, *, reuse: Path | None = None) -> None:
        self.path = path
        self._embedder = embedder
        self._lock = threading.RLock()
        self._binary = embedder.dimension % 8 == 0  # a binary index (bit[D]) needs bytes
        self._pool: ThreadPoolExecutor | None = None
        self._reader: Any = None  # the keyword search's own connection (in the pool's thread)
        self._db = connect(path)
        self._db.execute("pragma journal_mode = wal")
        self._db.execute("pragma synchronous = normal")
        self._db.executescript(SCHEMA)
        self._reuse = False
        if reuse is not None and Path(reuse).exists():
            old = connect(reuse)  # the index the lookups need, on older files too
            try:
                old.execute("create index if not exists memories_text on memories (text)")
            finally:
                old.close()
            self._db.execute("attach database ? as previous", (str(reuse),))
            self._reuse = True
        row = self._db.execute("select value from meta where name = 'layout'").fetchone()
        if row is None:
            self._db.execute("insert into meta values ('layout', ?)", (LAYOUT,))
        elif row[0] != LAYOUT:
            raise MemoryStoreError(f"{path}: memory store layout {row[0]}, expected {LAYOUT}")
        if self.reembed_stale():
            self._db.execute("delete from meta where name = 'index'")
        self._ensure_index()

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    def _quantized(self, expression: str) -> str:
        return f"vec_quantize_binary({expression})" if self._binary else expression

    def _ensure_index(self) -> None:
        """The vector index (a ``vec0`` table: tenant as partition key, kind, entity kind and
        validity as metadata, so KNN filters in the scan): derived from ``memories`` and
        ``vectors``, remade when the embedder's model or dimension changed."""
        kind = "bit" if self._binary else "float"
        wanted = f"{self._embedder.name}@{self._embedder.dimension}:{kind}"
        row = self._db.execute("select value from meta where name = 'index'").fetchone()
        exists = self._db.execute("select 1 from sqlite_master where name = 'vec_index'").fetchone()
        if row is not None and row[0] == wanted and exists:
            return
        with self._transaction() as db:
            db.execute("drop table if exists vec_index")
            column = (
                f"embedding bit[{int(self._embedder.dimension)}]"
                if self._binary
                else f"embedding float[{int(self._embedder.dimension)}] distance_metric=cosine"
            )
            db.execute(
                "create virtual table vec_index using vec0 (tenant_id text partition key, "
                f"kind text, entity_kind text, valid_from integer, ends_at integer, {column})"
            )
            db.execute(
                "insert into vec_index (rowid, tenant_id, kind, entity_kind, valid_from, "
                "ends_at, embedding) select m.rowid, m.tenant_id, m.kind, m.entity_kind, "
                f"m.valid_from, coalesce(m.ends_at, ?), {self._quantized('v.embedding')} "
                "from memories m join vectors v on v.key = m.key order by m.rowid",
                (OPEN_END,),
            )
            db.execute(
                "insert into meta values ('index', ?) on conflict (name) "
                "do update set value = excluded.value",
                (wanted,),
            )

    @locked
    def close(self) -> None:
        if self._pool is not None:
            reader, self._reader = self._reader, None
            if reader is not None:
                self._pool.submit(reader.close).result()
            self._pool.shutdown()
            self._pool = None
        self._db.close()

    # ---- materialization -------------------------------------------------------------------

    @locked
    def apply(self, key: str, record: MemoryRecord | None, *, partition: int, offset: int) -> bool:
        if record is not None and record.key != key:
            raise MemoryStoreError(
                f"memory.facts[{partition}]@{offset}: key {key!r} does not match its record"
            )
        vector = None
        if record is not None:
            vector = self._vectors([record.text()])[0]
        with self._transaction() as db:
            row = db.execute(
                "select next_offset from positions where partition = ?", (partition,)
            ).fetchone()
            if row is not None and offset < row[0]:
                return False  # applied before: nothing written, the transaction ends empty
            groups = self._delete(key)
            if record is not None and vector is not None:
                self._insert(key, record, vector)
                groups.add(record.group)
            for group in sorted(groups):
                self._close_superseded(group)
            db.execute(
                "insert into positions values (?, ?) on conflict (partition) "
                "do update set next_offset = excluded.next_offset",
                (partition, offset + 1),
            )
        return True

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Any]:
        """One write transaction (``begin immediate``: the write lock at once), committed when
        the block ends however it ends but by an exception, which rolls it back."""
        db = self._db
        db.execute("begin immediate")
        with db:  # sqlite3's own: commit at the end, rollback on an exception (re-raised)
            yield db

    def _delete(self, key: str) -> set[tuple[str, str, str, str]]:
        db = self._db
        row = db.execute(
            "select rowid, tenant_id, entity_kind, entity_id, attribute from memories "
            "where key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return set()
        db.execute("delete from keywords where rowid = ?", (row[0],))
        db.execute("delete from vec_index where rowid = ?", (row[0],))
        db.execute("delete from vectors where key = ?", (key,))
        db.execute("delete from memories where key = ?", (key,))
        return {(row[1], row[2], row[3], row[4])}

    def _insert(self, key: str, record: MemoryRecord, vector: bytes) -> None:
        db = self._db
        text = record.text()
        cursor = db.execute(
            "insert into memories (key, tenant_id, kind, entity_kind, entity_id, attribute, "
            "valid_from, valid_to, ends_at, record, text) values (?,?,?,?,?,?,?,?,?,?,?)",
            (
                key,
                record.tenant_id,
                record.kind,
                record.entity_kind,
                record.entity_id,
                record.attribute,
                to_millis(record.valid_from),
                None if record.valid_to is None else to_millis(record.valid_to),
                None if record.valid_to is None else to_millis(record.valid_to),
                record.canonical(),
                text,
            ),
        )
        rowid = cursor.lastrowid
        db.execute("insert into keywords (rowid, text) values (?, ?)", (rowid, text))
        db.execute(
            "insert into vec_index (rowid, tenant_id, kind, entity_kind, valid_from, ends_at, "
            f"embedding) values (?, ?, ?, ?, ?, ?, {self._quantized('?')})",
            (rowid, record.tenant_id, record.kind, record.entity_kind,
             to_millis(record.valid_from),
             OPEN_END if record.valid_to is None else to_millis(record.valid_to), vector),
        )  # fmt: skip
        db.execute(
            "insert into vectors values (?, ?, ?, ?)",
            (key, self._embedder.name, self._embedder.dimension, vector),
        )

    def _close_superseded(self, group: tuple[str, str, str, str]) -> None:
        """Deterministic supersession: each fact of the group ends at its own valid_to or at
        the next version's valid_from, whichever is first. Order of arrival plays no part."""
        rows = self._db.execute(
            "select rowid, valid_from, valid_to, ends_at from memories where kind = 'fact' "
            "and tenant_id = ? and entity_kind = ? and entity_id = ? and attribute = ? "
            "order by valid_from, key",
            group,
        ).fetchall()
        for index, (rowid, _, valid_to, ends_at) in enumerate(rows):
            nxt = rows[index + 1][1] if index + 1 < len(rows) else None
            ends = [t for t in (valid_to, nxt) if t is not None]
            end = min(ends) if ends else None
            if end == ends_at:
                continue
            self._db.execute("update memories set ends_at = ? where rowid = ?", (end, rowid))
            self._db.execute(
                "update vec_index set ends_at = ? where rowid = ?",
                (OPEN_END if end is None else end, rowid),
            )

    def _reused(self, text: str) -> bytes | None:
        if not self._reuse:
            return None
        row = self._db.execute(
            "select v.embedding from previous.memories m join previous.vectors v "
            "on v.key = m.key where m.text = ? and v.model = ? and v.dimension = ? limit 1",
            (text, self._embedder.name, self._embedder.dimension),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def _vectors(self, texts: Sequence[str]) -> list[bytes]:
        found = [self._reused(text) for text in texts]
        missing = [text for text, vector in zip(texts, found, strict=True) if vector is None]
        made = iter(self._embed(missing) if missing else [])
        return [vector if vector is not None else next(made) for vector in found]

    def _embed(self, texts: Sequence[str]) -> list[bytes]:
        import sqlite_vec

        vectors = self._embedder.embed(list(texts))
        if len(vectors) != len(texts):
            raise MemoryStoreError(f"embedder {self._embedder.name} returned a wrong count")
        for vector in vectors:
            if len(vector) != self._embedder.dimension:
                raise MemoryStoreError(
                    f"embedder {self._embedder.name} gave {len(vector)} dimensions, "
                    f"said {self._embedder.dimension}"
                )
        return [bytes(sqlite_vec.serialize_float32(v)) for v in vectors]

    @locked
    def reembed_stale(self, batch: int = 64) -> int:
        """Re-embed every vector not made by this store's embedder; returns how many."""
        db = self._db
        stale = db.execute(
            "select m.key, m.text from memories m join vectors v on v.key = m.key "
            "where v.model != ? or v.dimension != ? order by m.key",
            (self._embedder.name, self._embedder.dimension),
        ).fetchall()
        for start in range(0, len(stale), batch):
            chunk = stale[start : start + batch]
            vectors = self._vectors([text for _, text in chunk])
            with self._transaction():
                for (key, _), vector in zip(chunk, vectors, strict=True):
                    db.execute(
                        "update vectors set model = ?, dimension = ?, embedding = ? where key = ?",
                        (self._embedder.name, self._embedder.dimension, vector, key),
                    )
        return len(stale)

    # ---- reads -----------------------------------------------------------------------------

    @locked
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
        pool = search_pool(tenant_id, kinds, k)
        if pool is None:
            return []
        at = moment(as_of)  # one "now" for both retrievers
        where, params = filters(tenant_id, kinds, entity_kind, at)
        vector = self._vectors([query])[0]
        match = fts_query(" ".join(informative(self._db, terms(query))))
        # the two retrievers at once: the keyword one on its own connection, in a thread
        # (SQLite runs without the GIL); each filters by the tenant in its own query
        keyword = (
            self._keywords().submit(self._by_keyword, match, where, params, pool)
            if match is not None
            else None
        )
        by_vector = nearest(self._db, vector, binary=self._binary, tenant_id=tenant_id,
                            kinds=kinds, entity_kind=entity_kind, as_of=at, pool=pool)  # fmt: skip
        by_keyword = keyword.result() if keyword is not None else []
        fused = fuse([by_vector, by_keyword])[:k]
        return hits(fused, self._records(key for key, _ in fused), by_vector, by_keyword)

    def _keywords(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memory-fts")
        return self._pool

    def _by_keyword(self, match: str, where: str, params: list[Any], pool: int) -> list[str]:
        if self._reader is None:  # made and used in the pool's one thread only
            self._reader = connect(self.path)
        return by_keyword(self._reader, match, where, params, pool)

    def _records(self, keys: Iterable[str]) -> dict[str, MemoryRecord]:
        found = {}
        for key in keys:
            row = self._db.execute("select record from memories where key = ?", (key,)).fetchone()
            found[key] = MemoryRecord.from_canonical(row[0])
        return found

    @locked
    def facts(
        self,
        tenant_id: str,
        entity_kind: EntityKind,
        entity_id: str,
        *,
        as_of: datetime | None = None,
    ) -> list[MemoryRecord]:
        require_tenant(tenant_id, "facts")
        where, params = filters(tenant_id, ("fact",), entity_kind, moment(as_of))
        rows = self._db.execute(
            f"select m.record from memories m where {where} and m.entity_id = ? "
            "order by m.attribute, m.valid_from, m.key",
            (*params, entity_id),
        ).fetchall()
        return [MemoryRecord.from_canonical(r[0]) for r in rows]

    @locked
    def keys(
        self, tenant_id: str, entity_kind: EntityKind | None = None, entity_id: str | None = None
    ) -> list[str]:
        query, params = keys_query(tenant_id, entity_kind, entity_id, "?")
        return [row[0] for row in self._db.execute(query, params)]

    @locked
    def positions(self) -> dict[int, int]:
        rows = self._db.execute("select partition, next_offset from positions order by 1")
        return {int(p): int(o) for p, o in rows}

    @locked
    def count(self) -> int:
        return int(self._db.execute("select count(*) from memories").fetchone()[0])

    @locked
    def digest(self) -> str:
        h = hashlib.sha256()
        for key, record, ends_at in self._db.execute(
            "select key, record, ends_at from memories order by key"
        ):
            h.update(f"m|{key}|{record}|{ends_at}\n".encode())
        for key, model, dimension, embedding in self._db.execute(
            "select key, model, dimension, embedding from vectors order by key"
        ):
            h.update(f"v|{key}|{model}|{dimension}|".encode() + bytes(embedding) + b"\n")
        for partition, offset in self.positions().items():
            h.update(f"p|{partition}|{offset}\n".encode())
        return h.hexdigest()


def store_path(settings: Settings) -> Path:
    return settings.memory.path or settings.cache_dir / "memory.sqlite"


def open_store(settings: Settings, embedder: Embedder) -> SqliteMemoryStore:
    """The store at the settings' path (created empty if missing)."""
    path = store_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteMemoryStore(path, embedder)


def fresh_store(
    settings: Settings, embedder: Embedder
) -> tuple[SqliteMemoryStore, Callable[[], None]]:
    """An empty store beside the settings' path; ``publish`` closes it and moves it over the
    old file in one rename, so readers see the old store or the new one, never half of one."""
    path = store_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.name + ".rebuilding")
    for leftover in _files(building):
        leftover.unlink(missing_ok=True)
    store = SqliteMemoryStore(building, embedder, reuse=path if path.exists() else None)

    def publish() -> None:
        store.close()  # the last connection: SQLite checkpoints the WAL into the file
        for old in _files(path)[1:]:
            old.unlink(missing_ok=True)
        os.replace(building, path)

    return store, publish


def _files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
