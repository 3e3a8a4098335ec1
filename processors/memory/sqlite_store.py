"""The embedded memory store: one SQLite file, ``sqlite-vec`` for vectors, FTS5 for keywords.

Layout (one transaction per :meth:`SqliteMemoryStore.apply`, positions included)::

    memories   key, tenant_id, kind, entity_kind, entity_id, attribute, valid_from, valid_to,
               ends_at (valid_to, or the next version's valid_from: computed here), record, text
    vectors    key, model, dimension, embedding (float32, sqlite-vec's format)
    keywords   FTS5 over memories.text (rowid = memories.rowid)
    positions  partition -> next offset of memory.facts
    meta       layout version

Vector search is exact (``vec_distance_cosine`` over the tenant's rows, filtered in SQL):
sqlite-vec's own ``vec0`` tables are brute force as well, and a plain table lets the tenant,
kind, entity and time filters sit in the same ``WHERE``. Keyword search is FTS5's BM25. The
two rankings are fused by reciprocal rank (:func:`fuse`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sqlite3 as _stdlib_sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from processors.errors import MemoryStoreError
from processors.memory.port import Embedder, Hit
from processors.memory.ranking import fuse, terms
from processors.memory.records import EntityKind, MemoryKind, MemoryRecord, to_millis
from processors.settings import Settings

LAYOUT = "2"
OPEN_END = 2**62  # ends_at of an open-ended memory in the vector index (it holds no NULL)
COARSE_FACTOR, COARSE_MIN = 10, 200  # binary-quantized candidates for the exact re-rank
COMMON_SHARE, COMMON_MIN = 0.05, 1000  # a query term in more documents than this is common

_SCHEMA = """
create table if not exists meta (name text primary key, value text not null);
create table if not exists memories (
    key text primary key,
    tenant_id text not null,
    kind text not null,
    entity_kind text not null,
    entity_id text not null,
    attribute text not null,
    valid_from integer not null,
    valid_to integer,
    ends_at integer,
    record text not null,
    text text not null
);
create index if not exists memories_entity
    on memories (tenant_id, entity_kind, entity_id, attribute, valid_from);
create index if not exists memories_text on memories (text);
create table if not exists vectors (
    key text primary key,
    model text not null,
    dimension integer not null,
    embedding blob not null
);
create virtual table if not exists keywords
    using fts5 (text, tokenize = 'unicode61 remove_diacritics 2');
create virtual table if not exists keywords_vocab using fts5vocab (keywords, row);
create table if not exists positions (partition integer primary key, next_offset integer not null);
"""


def _driver() -> Any:
    """A DB-API sqlite3 module that can load extensions: the standard library's when it was
    built with extension loading, else ``pysqlite3`` (a wheel with its own SQLite)."""
    if hasattr(_stdlib_sqlite3.Connection, "enable_load_extension"):
        return _stdlib_sqlite3
    try:
        import pysqlite3.dbapi2 as driver
    except ImportError as exc:
        raise MemoryStoreError(
            "this Python's sqlite3 cannot load extensions and pysqlite3 is not installed: "
            "pip install 'process-daemons[memory]'"
        ) from exc
    return driver


def _connect(path: Path | str) -> Any:
    try:
        import sqlite_vec
    except ImportError as exc:
        raise MemoryStoreError("sqlite-vec is not installed: pip install sqlite-vec") from exc
    driver = _driver()
    # shared across threads (a follower applies while a daemon searches): the store's lock
    # serializes every use of its connection
    connection = driver.connect(str(path), isolation_level=None, check_same_thread=False)
    connection.enable_load_extension(True)
    sqlite_vec.load(connection)
    connection.enable_load_extension(False)
    return connection


def fts_query(text: str) -> str | None:
    """The terms of ``text`` as an FTS5 query (each quoted, joined by OR): user text never
    reaches FTS5's query syntax. ``None`` when there is no term."""
    words = terms(text)
    if not words:
        return None
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


_T = TypeVar("_T")
_P = ParamSpec("_P")


class _Locking(Protocol):
    _lock: threading.RLock


_S = TypeVar("_S", bound=_Locking)


def _locked(method: Callable[Concatenate[_S, _P], _T]) -> Callable[Concatenate[_S, _P], _T]:
    """Run a store method under the store's lock."""

    @functools.wraps(method)
    def run(store: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with store._lock:
            return method(store, *args, **kwargs)

    return run


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
        self._db = _connect(path)
        self._db.execute("pragma journal_mode = wal")
        self._db.execute("pragma synchronous = normal")
        self._db.executescript(_SCHEMA)
        self._reuse = False
        if reuse is not None and Path(reuse).exists():
            old = _connect(reuse)  # the index the lookups need, on older files too
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
        db = self._db
        db.execute("begin immediate")
        try:
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
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            raise

    @_locked
    def close(self) -> None:
        if self._pool is not None:
            reader, self._reader = self._reader, None
            if reader is not None:
                self._pool.submit(reader.close).result()
            self._pool.shutdown()
            self._pool = None
        self._db.close()

    # ---- materialization -------------------------------------------------------------------

    @_locked
    def apply(self, key: str, record: MemoryRecord | None, *, partition: int, offset: int) -> bool:
        if record is not None and record.key != key:
            raise MemoryStoreError(
                f"memory.facts[{partition}]@{offset}: key {key!r} does not match its record"
            )
        vector = None
        if record is not None:
            vector = self._vectors([record.text()])[0]
        db = self._db
        db.execute("begin immediate")
        try:
            row = db.execute(
                "select next_offset from positions where partition = ?", (partition,)
            ).fetchone()
            if row is not None and offset < row[0]:
                db.execute("rollback")
                return False
            groups = self._delete(key)
            if record is not None and vector is not None:
                self._insert(key, record, vector)
                groups.add(_group(record))
            for group in sorted(groups):
                self._close_superseded(group)
            db.execute(
                "insert into positions values (?, ?) on conflict (partition) "
                "do update set next_offset = excluded.next_offset",
                (partition, offset + 1),
            )
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            raise
        return True

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

    @_locked
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
            db.execute("begin immediate")
            try:
                for (key, _), vector in zip(chunk, vectors, strict=True):
                    db.execute(
                        "update vectors set model = ?, dimension = ?, embedding = ? where key = ?",
                        (self._embedder.name, self._embedder.dimension, vector, key),
                    )
                db.execute("commit")
            except BaseException:
                db.execute("rollback")
                raise
        return len(stale)

    # ---- reads -----------------------------------------------------------------------------

    @_locked
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
        if not tenant_id:
            raise MemoryStoreError("search needs a tenant")
        if k <= 0:
            return []
        pool = max(4 * k, 20)
        if kinds is not None and not kinds:
            return []
        as_of = as_of or datetime.now(UTC)  # one "now" for both retrievers
        where, params = _filters(tenant_id, kinds, entity_kind, as_of)
        vector = self._vectors([query])[0]
        match = fts_query(" ".join(self._informative(terms(query))))
        # the two retrievers at once: the keyword one on its own connection, in a thread
        # (SQLite runs without the GIL); each filters by the tenant in its own query
        keyword = (
            self._keywords().submit(self._by_keyword, match, where, params, pool)
            if match is not None
            else None
        )
        by_vector = self._nearest(vector, tenant_id, kinds, entity_kind, as_of, pool, params)
        by_keyword = keyword.result() if keyword is not None else []
        fused = fuse([by_vector, by_keyword])[:k]
        records = self._records([key for key, _ in fused])
        vector_rank = {key: rank for rank, key in enumerate(by_vector, start=1)}
        keyword_rank = {key: rank for rank, key in enumerate(by_keyword, start=1)}
        return [
            Hit(key, records[key], score, vector_rank.get(key), keyword_rank.get(key))
            for key, score in fused
        ]

    def _keywords(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memory-fts")
        return self._pool

    def _by_keyword(self, match: str, where: str, params: list[Any], pool: int) -> list[str]:
        if self._reader is None:  # made and used in the pool's one thread only
            self._reader = _connect(self.path)
        return [
            row[0]
            for row in self._reader.execute(
                "select m.key from keywords cross join memories m on m.rowid = keywords.rowid "
                f"where keywords match ? and {where} order by bm25(keywords), m.key limit ?",
                (match, *params, pool),
            )
        ]

    def _informative(self, words: list[str]) -> list[str]:
        """The query terms worth a keyword search: a term found in more than ``COMMON_SHARE``
        of all documents (and more than ``COMMON_MIN``) ranks little under BM25 and costs a
        scan of its documents, so it is dropped — unless every term is common, then the rarest
        stays. Small stores keep every term."""
        if len(words) <= 1:
            return words
        total = int(self._db.execute("select count(*) from memories").fetchone()[0])
        limit = max(COMMON_SHARE * total, COMMON_MIN)
        if total <= limit:
            return words
        counts = {}
        for word in words:
            row = self._db.execute(
                "select doc from keywords_vocab where term = ?", (word,)
            ).fetchone()
            counts[word] = 0 if row is None else int(row[0])
        kept = [w for w in words if counts[w] <= limit]
        return kept or [min(words, key=lambda w: (counts[w], w))]

    def _nearest(
        self,
        vector: bytes,
        tenant_id: str,
        kinds: Sequence[MemoryKind] | None,
        entity_kind: EntityKind | None,
        as_of: datetime | None,
        pool: int,
        params: list[Any],
    ) -> list[str]:
        """Two stages: the nearest ``COARSE_FACTOR * pool`` by Hamming distance in the binary
        vec0 index (filtered there by tenant — its partition —, kind, entity kind and
        validity), then exact cosine over those float vectors, through the same WHERE as every
        read. Exact whenever the tenant's matching memories are fewer than the candidates."""
        clauses = ["k = ?", "tenant_id = ?"]
        values: list[Any] = [vector, pool, tenant_id]
        if kinds is not None and len(set(kinds)) == 1:
            clauses.append("kind = ?")
            values.append(kinds[0])
        if entity_kind is not None:
            clauses.append("entity_kind = ?")
            values.append(entity_kind)
        moment = to_millis(as_of if as_of is not None else datetime.now(UTC))
        clauses.extend(["valid_from <= ?", "ends_at > ?"])
        values.extend([moment, moment])
        values[1] = max(COARSE_FACTOR * pool, COARSE_MIN) if self._binary else pool
        probe = "vec_quantize_binary(?)" if self._binary else "?"
        rowids = [
            row[0]
            for row in self._db.execute(
                f"select rowid from vec_index where {' and '.join(clauses)} and "
                f"embedding match {probe} order by distance",
                [*values[1:], vector],
            )
        ]
        # exact cosine over the candidates, through the WHERE every read shares (the tenant
        # column unindexed there: the candidates' rowids are the way in)
        where, _ = _filters(tenant_id, kinds, entity_kind, as_of, by_rowid=True)
        return [
            row[0]
            for row in self._db.execute(
                "select m.key from memories m join vectors v on v.key = m.key "
                f"where m.rowid in (select value from json_each(?)) and {where} "
                "order by vec_distance_cosine(v.embedding, ?), m.key limit ?",
                (json.dumps(rowids), *params, vector, pool),
            )
        ]

    def _records(self, keys: Iterable[str]) -> dict[str, MemoryRecord]:
        found = {}
        for key in keys:
            row = self._db.execute("select record from memories where key = ?", (key,)).fetchone()
            found[key] = _load(row[0])
        return found

    @_locked
    def facts(
        self,
        tenant_id: str,
        entity_kind: EntityKind,
        entity_id: str,
        *,
        as_of: datetime | None = None,
    ) -> list[MemoryRecord]:
        if not tenant_id:
            raise MemoryStoreError("facts needs a tenant")
        where, params = _filters(tenant_id, ("fact",), entity_kind, as_of)
        rows = self._db.execute(
            f"select m.record from memories m where {where} and m.entity_id = ? "
            "order by m.attribute, m.valid_from, m.key",
            (*params, entity_id),
        ).fetchall()
        return [_load(r[0]) for r in rows]

    @_locked
    def keys(
        self, tenant_id: str, entity_kind: EntityKind | None = None, entity_id: str | None = None
    ) -> list[str]:
        if not tenant_id:
            raise MemoryStoreError("keys needs a tenant")
        if entity_id is not None and entity_kind is None:
            raise MemoryStoreError("an entity id needs its entity kind")
        sql = "select key from memories where tenant_id = ?"
        params: list[str] = [tenant_id]
        if entity_kind is not None:
            sql += " and entity_kind = ?"
            params.append(entity_kind)
        if entity_id is not None:
            sql += " and entity_id = ?"
            params.append(entity_id)
        return [row[0] for row in self._db.execute(sql + " order by key", params)]

    @_locked
    def positions(self) -> dict[int, int]:
        rows = self._db.execute("select partition, next_offset from positions order by 1")
        return {int(p): int(o) for p, o in rows}

    @_locked
    def count(self) -> int:
        return int(self._db.execute("select count(*) from memories").fetchone()[0])

    @_locked
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


def _group(record: MemoryRecord) -> tuple[str, str, str, str]:
    return (record.tenant_id, record.entity_kind, record.entity_id, record.attribute)


def _filters(
    tenant_id: str,
    kinds: Sequence[MemoryKind] | None,
    entity_kind: EntityKind | None,
    as_of: datetime | None,
    *,
    by_rowid: bool = False,
) -> tuple[str, list[Any]]:
    """The WHERE clause every read shares: the tenant first, always. ``by_rowid``: rows are
    found by rowid, so the tenant's index must not be chosen to scan (``+`` keeps it off)."""
    clauses = ["+m.tenant_id = ?" if by_rowid else "m.tenant_id = ?"]
    params: list[Any] = [tenant_id]
    if kinds is not None:
        if not kinds:
            clauses.append("0")
        else:
            clauses.append(f"m.kind in ({', '.join('?' for _ in kinds)})")
            params.extend(kinds)
    if entity_kind is not None:
        clauses.append("m.entity_kind = ?")
        params.append(entity_kind)
    # now, when no time is given: a fact valid until a later date is current, one valid
    # from a later date is not yet
    moment = to_millis(as_of if as_of is not None else datetime.now(UTC))
    clauses.append("m.valid_from <= ? and (m.ends_at is null or m.ends_at > ?)")
    params.extend([moment, moment])
    return " and ".join(clauses), params


def _load(canonical: str) -> MemoryRecord:
    """A record from its stored canonical (Avro-shaped) JSON."""
    return MemoryRecord.from_avro(json.loads(canonical))


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
