"""The shared memory store: PostgreSQL with pgvector for vectors and full-text search for words.

Where one SQLite file per process (:mod:`processors.memory.sqlite_store`) stops scaling, many
processes share one PostgreSQL. The layout lives in a schema of its own (``memory`` unless
told otherwise), one transaction per :meth:`PostgresMemoryStore.apply`, positions included::

    memories   key, tenant_id, kind, entity_kind, entity_id, attribute, valid_from, valid_to,
               ends_at (valid_to, or the next version's valid_from: computed here), record,
               text, words (tsvector), model, dimension, embedding (pgvector ``vector``)
    positions  partition -> next offset of memory.facts
    meta       layout version

Times are epoch milliseconds, ``record`` is the record's canonical JSON and text sorts by byte
(collation ``C``), as in the SQLite store: both stores order alike and give the same
:meth:`~PostgresMemoryStore.digest` for the same offsets.

Vectors: an HNSW index (pgvector >= 0.5) on cosine distance, partial to the embedder's model
and dimension, read with pgvector's iterative index scans (0.8) so the tenant, kind, entity and
time filters in the same ``WHERE`` still yield a full candidate list (with pgvector 0.5 to 0.7
the index post-filters, and a rare tenant can get fewer than ``k`` vector candidates). The
planner chooses: a tenant with few rows is read exactly through the btree on the tenant.
Keywords: PostgreSQL full-text search (``simple``: no stemming, no stop words) over the
record's terms as the SQLite store's FTS5 tokenizer makes them
(:func:`processors.memory.ranking.terms`), ranked by ``ts_rank`` (not BM25: the keyword order
can differ from the SQLite store's). The two rankings are fused by the same reciprocal rank
fusion (:func:`processors.memory.ranking.fuse`).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from processors.errors import MemoryStoreError
from processors.memory.port import Embedder, Hit
from processors.memory.ranking import fuse, terms
from processors.memory.reading import hits, keys_query, moment, require_tenant, search_pool
from processors.memory.records import EntityKind, MemoryKind, MemoryRecord, to_millis
from processors.settings import Settings

try:
    import psycopg
    from psycopg import sql
except ImportError as _missing:  # pragma: no cover - depends on the installed extras
    raise MemoryStoreError(
        "the PostgreSQL memory store needs psycopg: pip install 'process-daemons[postgres]'"
    ) from _missing

LAYOUT = "1"
TEXT_SEARCH = "pg_catalog.simple"  # the terms arrive folded: no stemming, no stop words
HNSW_EF_SEARCH = 100
_SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,39}")  # room for the rebuild's suffix
_REBUILDING = "_rebuilding"

_SCHEMA = """
create table if not exists meta (name text primary key, value text not null);
create table if not exists memories (
    key text collate "C" primary key,
    tenant_id text collate "C" not null,
    kind text collate "C" not null,
    entity_kind text collate "C" not null,
    entity_id text collate "C" not null,
    attribute text collate "C" not null,
    valid_from bigint not null,
    valid_to bigint,
    ends_at bigint,
    record text not null,
    text text not null,
    words tsvector not null,
    model text collate "C" not null,
    dimension integer not null,
    embedding vector not null
);
create index if not exists memories_entity
    on memories (tenant_id, entity_kind, entity_id, attribute, valid_from);
create index if not exists memories_words on memories using gin (words);
create table if not exists positions (partition integer primary key, next_offset bigint not null);
"""


def words_of(text: str) -> str:
    """The terms of ``text`` as the SQLite store's tokenizer makes them (unicode61, case and
    diacritics folded: :func:`processors.memory.ranking.terms`), space-separated: what the
    index holds, so both stores match the same words."""
    return " ".join(terms(text))


def tsquery_text(text: str) -> str | None:
    """The terms of ``text`` as a ``to_tsquery`` argument (joined by ``|``): terms are letters
    and digits only, so no user text reaches the query syntax. ``None`` when there is none."""
    found = terms(text)
    return " | ".join(found) if found else None


class PostgresMemoryStore:
    """A :class:`~processors.memory.port.MemoryStore` in a schema of a PostgreSQL database.

    ``dsn`` is a libpq connection string (it may hold a password: it is never logged nor kept).
    The server must have pgvector; ``CREATE EXTENSION vector`` is tried if it is not enabled.
    Opening a store whose vectors were made by another model (or dimension) re-embeds them with
    ``embedder`` before anything else happens: vectors of two models are never compared."""

    def __init__(self, dsn: str, embedder: Embedder, *, schema: str = "memory") -> None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise MemoryStoreError(
                f"schema name {schema!r}: up to 40 lower-case letters, digits and _"
            )
        self.schema = schema
        self._embedder = embedder
        self._index = _index_name(embedder)
        self._config = TEXT_SEARCH
        self._lock = threading.RLock()  # one connection: one transaction at a time
        with _mapped("open"):
            self._db = psycopg.connect(dsn, autocommit=True, connect_timeout=10)
        with contextlib.ExitStack() as on_failure:
            on_failure.callback(self._db.close)  # a store that cannot open holds no connection
            with _mapped("open"):
                self._open()
            self.reembed_stale()
            on_failure.pop_all()

    def _open(self) -> None:
        db = self._db
        if db.execute("select 1 from pg_extension where extname = 'vector'").fetchone() is None:
            try:
                db.execute("create extension if not exists vector")
            except psycopg.Error as exc:
                reason = exc.diag.message_primary
                raise MemoryStoreError(
                    f"pgvector is not available on this PostgreSQL server: {reason}"
                ) from None
        version = db.execute("select extversion from pg_extension where extname = 'vector'")
        row = version.fetchone()
        assert row is not None
        self._iterative = _version(row[0]) >= (0, 8)
        if _version(row[0]) < (0, 5):
            raise MemoryStoreError(f"pgvector {row[0]} has no HNSW indexes: 0.5 or newer needed")
        schema = sql.Identifier(self.schema)
        with db.transaction():
            # one opener at a time creates the layout (a shared server: many processes open it)
            db.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"memory:{self.schema}",))
            db.execute(sql.SQL("create schema if not exists {}").format(schema))
            db.execute(sql.SQL("set local search_path to {}, public").format(schema))
            db.execute(_SCHEMA)
            found = db.execute("select value from meta where name = 'layout'").fetchone()
            if found is None:
                db.execute("insert into meta values ('layout', %s)", (LAYOUT,))
            elif found[0] != LAYOUT:
                raise MemoryStoreError(
                    f"schema {self.schema}: memory store layout {found[0]}, expected {LAYOUT}"
                )
            db.execute(
                sql.SQL(
                    "create index if not exists {index} on memories using hnsw "
                    "((embedding::vector({dimension})) vector_cosine_ops) "
                    "where model = {model} and dimension = {dimension}"
                ).format(
                    index=sql.Identifier(self._index),
                    dimension=sql.Literal(self._embedder.dimension),
                    model=sql.Literal(self._embedder.name),
                )
            )
        db.execute(sql.SQL("set search_path to {}, public").format(schema))

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    @contextlib.contextmanager
    def _locked(self, action: str) -> Iterator[None]:
        """The connection to this thread alone (a follower applies while a daemon searches),
        psycopg's errors mapped."""
        with self._lock, _mapped(action):
            yield

    def close(self) -> None:
        self._db.close()

    # ---- materialization -------------------------------------------------------------------

    def apply(self, key: str, record: MemoryRecord | None, *, partition: int, offset: int) -> bool:
        if record is not None and record.key != key:
            raise MemoryStoreError(
                f"memory.facts[{partition}]@{offset}: key {key!r} does not match its record"
            )
        vector = None if record is None else self._vectors([record.text()])[0]
        db = self._db
        with self._locked(f"apply memory.facts[{partition}]@{offset}"), db.transaction():
            db.execute(
                "insert into positions values (%s, 0) on conflict (partition) do nothing",
                (partition,),
            )
            row = db.execute(
                "select next_offset from positions where partition = %s for update", (partition,)
            ).fetchone()
            assert row is not None
            if offset < row[0]:
                return False
            groups = self._delete(key)
            if record is not None and vector is not None:
                self._insert(key, record, vector)
                groups.add(record.group)
            for group in sorted(groups):
                self._close_superseded(group)
            db.execute(
                "update positions set next_offset = %s where partition = %s",
                (offset + 1, partition),
            )
        return True

    def _delete(self, key: str) -> set[tuple[str, str, str, str]]:
        row = self._db.execute(
            "delete from memories where key = %s "
            "returning tenant_id, entity_kind, entity_id, attribute",
            (key,),
        ).fetchone()
        return set() if row is None else {(row[0], row[1], row[2], row[3])}

    def _insert(self, key: str, record: MemoryRecord, vector: str) -> None:
        text = record.text()
        valid_to = None if record.valid_to is None else to_millis(record.valid_to)
        self._db.execute(
            "insert into memories (key, tenant_id, kind, entity_kind, entity_id, attribute, "
            "valid_from, valid_to, ends_at, record, text, words, model, dimension, embedding) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, "
            "to_tsvector(%s::regconfig, %s), %s, %s, %s::vector)",
            (
                key,
                record.tenant_id,
                record.kind,
                record.entity_kind,
                record.entity_id,
                record.attribute,
                to_millis(record.valid_from),
                valid_to,
                valid_to,
                record.canonical(),
                text,
                self._config,
                words_of(text),
                self._embedder.name,
                self._embedder.dimension,
                vector,
            ),
        )

    def _close_superseded(self, group: tuple[str, str, str, str]) -> None:
        """Deterministic supersession, as in the SQLite store: each fact of the group ends at
        its own valid_to or at the next version's valid_from, whichever is first (``least``
        skips nulls). Order of arrival plays no part."""
        self._db.execute(
            "update memories m set ends_at = s.ends from ("
            "  select key, least(valid_to, lead(valid_from) over (order by valid_from, key))"
            "    as ends from memories where kind = 'fact' and tenant_id = %s"
            "    and entity_kind = %s and entity_id = %s and attribute = %s"
            ") s where m.key = s.key and m.ends_at is distinct from s.ends",
            group,
        )

    def _vectors(self, texts: Sequence[str]) -> list[str]:
        """pgvector literals of the embeddings, each value rounded to float32 first: the
        server stores float32, and the SQLite store rounds the same way."""
        vectors = self._embedder.embed(list(texts))
        if len(vectors) != len(texts):
            raise MemoryStoreError(f"embedder {self._embedder.name} returned a wrong count")
        literals = []
        for vector in vectors:
            if len(vector) != self._embedder.dimension:
                raise MemoryStoreError(
                    f"embedder {self._embedder.name} gave {len(vector)} dimensions, "
                    f"said {self._embedder.dimension}"
                )
            rounded = struct.unpack(f"<{len(vector)}f", struct.pack(f"<{len(vector)}f", *vector))
            literals.append("[" + ",".join(repr(v) for v in rounded) + "]")
        return literals

    def reembed_stale(self, batch: int = 64) -> int:
        """Re-embed every vector not made by this store's embedder; returns how many. Indexes
        of other models are dropped once none of their vectors is left."""
        db = self._db
        with self._locked("re-embed"):
            stale = db.execute(
                "select key, text from memories where model != %s or dimension != %s order by key",
                (self._embedder.name, self._embedder.dimension),
            ).fetchall()
        for start in range(0, len(stale), batch):
            chunk = stale[start : start + batch]
            vectors = self._vectors([text for _, text in chunk])
            with self._locked("re-embed"), db.transaction():
                for (key, _), vector in zip(chunk, vectors, strict=True):
                    db.execute(
                        "update memories set model = %s, dimension = %s, "
                        "embedding = %s::vector where key = %s",
                        (self._embedder.name, self._embedder.dimension, vector, key),
                    )
        with self._locked("re-embed"):
            for (index,) in db.execute(
                "select indexname from pg_indexes where schemaname = %s "
                "and indexname like 'memories_vec_%%' and indexname != %s",
                (self.schema, self._index),
            ).fetchall():
                db.execute(sql.SQL("drop index if exists {}").format(sql.Identifier(index)))
        return len(stale)

    # ---- reads -----------------------------------------------------------------------------

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
        where, params = _filters(tenant_id, kinds, entity_kind, moment(as_of))
        vector = self._vectors([query])[0]
        dimension = sql.Literal(self._embedder.dimension)
        # the inner query is what HNSW can serve (order by distance alone); ties are broken by
        # key outside, so equal distances come out in the same order as in the SQLite store
        by_vector_sql = sql.SQL(
            "select key from ("
            "  select m.key, m.embedding::vector({dimension}) <=> %s::vector({dimension}) as d"
            "  from memories m where {where} and m.model = {model} and m.dimension = {dimension}"
            "  order by d limit %s"
            ") found order by d, key"
        ).format(dimension=dimension, where=where, model=sql.Literal(self._embedder.name))
        match = tsquery_text(query)
        db = self._db
        with self._locked("search"), db.transaction():
            if self._iterative:
                db.execute("set local hnsw.iterative_scan = strict_order")
                db.execute(f"set local hnsw.ef_search = {HNSW_EF_SEARCH}")
            by_vector = [row[0] for row in db.execute(by_vector_sql, (vector, *params, pool))]
            by_keyword: list[str] = []
            if match is not None:
                by_keyword = [
                    row[0]
                    for row in db.execute(
                        sql.SQL(
                            "select m.key from memories m, to_tsquery({config}::regconfig, %s) q "
                            "where m.words @@ q and {where} "
                            "order by ts_rank(m.words, q) desc, m.key limit %s"
                        ).format(config=sql.Literal(self._config), where=where),
                        (match, *params, pool),
                    )
                ]
            fused = fuse([by_vector, by_keyword])[:k]
            records = self._records([key for key, _ in fused])
        return hits(fused, records, by_vector, by_keyword)

    def _records(self, keys: Sequence[str]) -> dict[str, MemoryRecord]:
        if not keys:
            return {}
        rows = self._db.execute(
            "select key, record from memories where key = any(%s)", (list(keys),)
        ).fetchall()
        return {key: MemoryRecord.from_canonical(record) for key, record in rows}

    def facts(
        self,
        tenant_id: str,
        entity_kind: EntityKind,
        entity_id: str,
        *,
        as_of: datetime | None = None,
    ) -> list[MemoryRecord]:
        require_tenant(tenant_id, "facts")
        where, params = _filters(tenant_id, ("fact",), entity_kind, moment(as_of))
        with self._locked("facts"):
            rows = self._db.execute(
                sql.SQL(
                    "select m.record from memories m where {where} and m.entity_id = %s "
                    "order by m.attribute, m.valid_from, m.key"
                ).format(where=where),
                (*params, entity_id),
            ).fetchall()
        return [MemoryRecord.from_canonical(r[0]) for r in rows]

    def keys(
        self, tenant_id: str, entity_kind: EntityKind | None = None, entity_id: str | None = None
    ) -> list[str]:
        query, params = keys_query(tenant_id, entity_kind, entity_id, "%s")
        with self._locked("keys"):
            return [row[0] for row in self._db.execute(query, params)]

    def positions(self) -> dict[int, int]:
        with self._locked("positions"):
            rows = self._db.execute("select partition, next_offset from positions order by 1")
            return {int(p): int(o) for p, o in rows}

    def count(self) -> int:
        with self._locked("count"):
            row = self._db.execute("select count(*) from memories").fetchone()
        assert row is not None
        return int(row[0])

    def digest(self) -> str:
        """The SQLite store's digest over the same content: records with their ends, vectors
        (float32, little-endian) with their model, positions."""
        h = hashlib.sha256()
        with self._locked("digest"), self._db.transaction():
            rows = self._db.execute("select key, record, ends_at from memories order by key")
            for key, record, ends_at in rows:
                h.update(f"m|{key}|{record}|{ends_at}\n".encode())
            rows = self._db.execute(
                "select key, model, dimension, vector_send(embedding) from memories order by key"
            )
            for key, model, dimension, sent in rows:
                h.update(f"v|{key}|{model}|{dimension}|".encode() + _float32_le(sent) + b"\n")
            for partition, offset in self.positions().items():
                h.update(f"p|{partition}|{offset}\n".encode())
        return h.hexdigest()


def _float32_le(sent: bytes) -> bytes:
    """pgvector's binary form (dimension, unused, then big-endian float32s) as the little-endian
    float32 bytes sqlite-vec stores."""
    dimension = struct.unpack_from(">H", sent)[0]
    values = struct.unpack_from(f">{dimension}f", sent, 4)
    return struct.pack(f"<{dimension}f", *values)


def _filters(
    tenant_id: str,
    kinds: Sequence[MemoryKind] | None,
    entity_kind: EntityKind | None,
    as_of: datetime,
) -> tuple[sql.Composed, list[Any]]:
    """The WHERE clause every read shares: the tenant first, always; memories valid at
    ``as_of``."""
    clauses = [sql.SQL("m.tenant_id = %s")]
    params: list[Any] = [tenant_id]
    if kinds is not None:
        clauses.append(sql.SQL("m.kind = any(%s)"))
        params.append(list(kinds))
    if entity_kind is not None:
        clauses.append(sql.SQL("m.entity_kind = %s"))
        params.append(entity_kind)
    at = to_millis(as_of)
    clauses.append(sql.SQL("m.valid_from <= %s and (m.ends_at is null or m.ends_at > %s)"))
    params.extend([at, at])
    return sql.SQL(" and ").join(clauses), params


def _index_name(embedder: Embedder) -> str:
    """The HNSW index of one model and dimension (a hash: model names are free text)."""
    seed = f"{embedder.name}|{embedder.dimension}".encode()
    return "memories_vec_" + hashlib.sha256(seed).hexdigest()[:16]


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


@contextlib.contextmanager
def _mapped(action: str) -> Iterator[None]:
    """The one place psycopg's errors become :class:`MemoryStoreError` (the SQLSTATE kept in
    the message; never the DSN)."""
    try:
        yield
    except psycopg.Error as exc:
        state = exc.sqlstate or type(exc).__name__
        raise MemoryStoreError(f"postgres memory store, {action}: [{state}] {exc}") from exc


def _dsn(settings: Settings) -> str:
    if settings.memory.postgres_dsn is None:
        raise MemoryStoreError(
            "the postgres memory store needs DAEMONS_POSTGRES_DSN (a libpq connection string "
            "of a PostgreSQL with pgvector)"
        )
    return settings.memory.postgres_dsn.get_secret_value()


def open_store(settings: Settings, embedder: Embedder) -> PostgresMemoryStore:
    """The store in the settings' schema (created empty if missing)."""
    return PostgresMemoryStore(_dsn(settings), embedder, schema=settings.memory.postgres_schema)


def fresh_store(
    settings: Settings, embedder: Embedder
) -> tuple[PostgresMemoryStore, Callable[[], None]]:
    """An empty store in a schema beside the settings' one; ``publish`` closes it and, in one
    transaction, drops the old schema and renames the new one in its place: other sessions
    see the old store or the new one, never half of one."""
    dsn, schema = _dsn(settings), settings.memory.postgres_schema
    building = schema + _REBUILDING
    with _mapped("rebuild"), psycopg.connect(dsn, autocommit=True, connect_timeout=10) as db:
        db.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(building)))
    store = PostgresMemoryStore(dsn, embedder, schema=building)

    def publish() -> None:
        store.close()
        with (
            _mapped("publish the rebuilt store"),
            psycopg.connect(dsn, autocommit=True, connect_timeout=10) as db,
            db.transaction(),
        ):
            db.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"memory:{schema}",))
            db.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))
            db.execute(
                sql.SQL("alter schema {} rename to {}").format(
                    sql.Identifier(building), sql.Identifier(schema)
                )
            )

    return store, publish
