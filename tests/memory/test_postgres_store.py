"""What the PostgreSQL store promises beyond the conformance suite, against a real server:
the SQLite store's digest and matches for the same offsets, one application per offset when
processes share the server, the HNSW index in use with the tenant filter kept, re-embedding."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from processors.errors import MemoryStoreError
from processors.memory.fakes import FakeHashEmbedder
from processors.memory.postgres_store import PostgresMemoryStore
from processors.memory.records import Episode, MemoryRecord, Provenance
from processors.memory.sqlite_store import SqliteMemoryStore

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WORDS = [
    "acme",
    "globex",
    "initech",
    "payroll",
    "software",
    "hosting",
    "bank",
    "iban",
    "rent",
    "travel",
    "fuel",
    "legal",
]


@pytest.fixture
def schema(postgres_dsn: str) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"drop schema if exists {name} cascade")


def fact(tenant: str, entity: str, attribute: str, value: str, day: int) -> MemoryRecord:
    return MemoryRecord(
        tenant_id=tenant,
        principal_id="svc",
        occurred_at=T0,
        kind="fact",
        entity_kind="vendor",
        entity_id=entity,
        attribute=attribute,
        value=value,
        valid_from=T0 + timedelta(days=day),
        recorded_at=T0 + timedelta(days=day),
        provenance=_provenance(day),
    )


def episode(tenant: str, question: str, answer: str, run: int) -> MemoryRecord:
    return MemoryRecord(
        tenant_id=tenant,
        principal_id="svc",
        occurred_at=T0,
        kind="episode",
        entity_kind="question",
        entity_id=f"q{run}",
        attribute="answer",
        valid_from=T0,
        recorded_at=T0,
        episode=Episode(input_summary=question, output=answer, verdict="pass"),
        provenance=_provenance(run, run_id=f"run-{run}"),
    )


def _provenance(offset: int, run_id: str = "run-1") -> Provenance:
    return Provenance(
        run_id=run_id,
        source_topic="vendors.enriched",
        source_partition=0,
        source_offset=offset,
        approved_by="guardrails",
    )


def stream(seed: int, n: int) -> list[tuple[str, MemoryRecord | None]]:
    """A mixed log: facts that change (same entity and attribute, later valid_from), episodes,
    identical content under two tenants, and tombstones of keys written before."""
    rng = random.Random(seed)
    log: list[tuple[str, MemoryRecord | None]] = []
    for i in range(n):
        tenant = rng.choice(["tenant-a", "tenant-b"])
        roll = rng.random()
        if roll < 0.1 and log:
            key = rng.choice([k for k, r in log if r is not None])
            log.append((key, None))
            continue
        text = " ".join(rng.sample(WORDS, 3))
        if roll < 0.3:
            record = episode(tenant, f"what is {text}?", f"{text} is known", i)
        else:
            entity = rng.choice(["acme", "Globex", "V-1023", "initech"])
            record = fact(tenant, entity, rng.choice(["category", "iban"]), text, rng.randint(0, 9))
        log.append((record.key, record))
    return log


def test_same_offsets_give_the_sqlite_stores_digest_and_matches(
    postgres_dsn: str, schema: str, tmp_path: Path
) -> None:
    embedder = FakeHashEmbedder(48)
    pg = PostgresMemoryStore(postgres_dsn, embedder, schema=schema)
    lite = SqliteMemoryStore(tmp_path / "memory.db", embedder)
    try:
        for offset, (key, record) in enumerate(stream(7, 160)):
            partition = offset % 2
            assert pg.apply(key, record, partition=partition, offset=offset // 2)
            assert lite.apply(key, record, partition=partition, offset=offset // 2)
        assert pg.count() == lite.count() > 0
        assert pg.positions() == lite.positions() == {0: 80, 1: 80}
        assert pg.digest() == lite.digest()
        for tenant in ("tenant-a", "tenant-b"):
            assert pg.keys(tenant) == lite.keys(tenant)
            for query in ("payroll software", "V-1023 bank", "what is fuel?", "globex"):
                for as_of in (None, T0 + timedelta(days=4)):
                    # k past a tenant's size (of 160 memories): every current one is a vector
                    # candidate, and the keyword matches are the same terms (ranked otherwise)
                    # (k=500 trips the SQLite store: its vec0 knn allows k <= 4096)
                    ours = pg.search(tenant, query, k=100, as_of=as_of)
                    theirs = lite.search(tenant, query, k=100, as_of=as_of)
                    assert {h.key for h in ours} == {h.key for h in theirs}
                    assert {h.key for h in ours if h.keyword_rank} == {
                        h.key for h in theirs if h.keyword_rank
                    }, (tenant, query, as_of)
            for entity in ("acme", "V-1023"):
                assert pg.facts(tenant, "vendor", entity) == lite.facts(tenant, "vendor", entity)
    finally:
        pg.close()
        lite.close()


def test_processes_sharing_the_server_apply_each_offset_once(
    postgres_dsn: str, schema: str
) -> None:
    embedder = FakeHashEmbedder(32)
    log = stream(11, 60)
    stores = [PostgresMemoryStore(postgres_dsn, embedder, schema=schema) for _ in range(3)]
    applied = [0] * len(stores)

    def replay(index: int) -> None:
        for offset, (key, record) in enumerate(log):
            if stores[index].apply(key, record, partition=0, offset=offset):
                applied[index] += 1

    threads = [threading.Thread(target=replay, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sum(applied) == len(log)
        single = PostgresMemoryStore(postgres_dsn, embedder, schema=f"{schema}_one")
        try:
            for offset, (key, record) in enumerate(log):
                single.apply(key, record, partition=0, offset=offset)
            assert stores[0].digest() == single.digest()
        finally:
            single.close()
    finally:
        for store in stores:
            store.close()
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"drop schema if exists {schema}_one cascade")


def _index_scans(dsn: str, schema: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "select coalesce(sum(idx_scan), 0) from pg_stat_user_indexes "
            "where schemaname = %s and indexrelname like 'memories_vec_%%'",
            (schema,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def _await_more_index_scans(store: PostgresMemoryStore, dsn: str, before: int) -> int:
    """The schema's HNSW index scans once they exceed ``before`` (10 s at most). A session
    publishes its statistics at the end of a transaction at most once a second, so the
    store is nudged with a cheap read while waiting."""
    deadline = time.monotonic() + 10
    while (now := _index_scans(dsn, store.schema)) == before and time.monotonic() < deadline:
        time.sleep(0.3)
        store.count()
    return now


def test_vector_search_uses_hnsw_and_filters_still_fill_k(postgres_dsn: str, schema: str) -> None:
    embedder = FakeHashEmbedder(32)
    store = PostgresMemoryStore(postgres_dsn, embedder, schema=schema)
    rng = random.Random(3)
    try:
        for offset in range(3000):
            tenant = "small" if offset % 100 == 0 else "large"
            words = " ".join(rng.sample(WORDS, 4))
            if offset % 100 == 51:  # 1 in 100 of the large tenant's memories is an episode
                record = episode(tenant, words, "answered", offset)
            else:
                record = fact(tenant, f"v{offset}", "category", words, 0)
            store.apply(record.key, record, partition=0, offset=offset)
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"analyze {schema}.memories")

        before = _index_scans(postgres_dsn, schema)
        hits = store.search("large", "payroll hosting", k=10)
        assert len(hits) == 10 and {h.record.tenant_id for h in hits} == {"large"}
        before = _await_more_index_scans(store, postgres_dsn, before)
        assert before > 0  # the large tenant's vector candidates came from the HNSW index

        hits = store.search("small", "payroll hosting", k=10)  # 30 rows: the planner goes exact
        assert len(hits) == 10 and {h.record.tenant_id for h in hits} == {"small"}
    finally:
        store.close()

    # with the index forced, a filter that 1 in 100 rows passes still yields k vector
    # candidates: a plain post-filtered HNSW scan (ef_search rows) would find about one
    forced = make_conninfo(postgres_dsn, options="-c enable_seqscan=off -c enable_sort=off")
    store = PostgresMemoryStore(forced, embedder, schema=schema)
    try:
        hits = store.search("large", "zzz", kinds=["episode"], k=10)
        assert len(hits) == 10
        assert all(h.record.kind == "episode" and h.vector_rank is not None for h in hits)
        assert _await_more_index_scans(store, postgres_dsn, before) > before
    finally:
        store.close()


def test_another_model_reembeds_every_vector_and_drops_the_old_index(
    postgres_dsn: str, schema: str
) -> None:
    log = stream(5, 40)
    old = PostgresMemoryStore(postgres_dsn, FakeHashEmbedder(64), schema=schema)
    for offset, (key, record) in enumerate(log):
        old.apply(key, record, partition=0, offset=offset)
    old.close()
    new = PostgresMemoryStore(postgres_dsn, FakeHashEmbedder(24), schema=schema)
    fresh = PostgresMemoryStore(postgres_dsn, FakeHashEmbedder(24), schema=f"{schema}_fresh")
    try:
        for offset, (key, record) in enumerate(log):
            fresh.apply(key, record, partition=0, offset=offset)
        assert new.digest() == fresh.digest()
        assert new.reembed_stale() == 0
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            indexes = conn.execute(
                "select indexname from pg_indexes where schemaname = %s "
                "and indexname like 'memories_vec_%%'",
                (schema,),
            ).fetchall()
        assert len(indexes) == 1
    finally:
        new.close()
        fresh.close()
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"drop schema if exists {schema}_fresh cascade")


def test_query_syntax_in_user_text_is_only_words(postgres_dsn: str, schema: str) -> None:
    store = PostgresMemoryStore(postgres_dsn, FakeHashEmbedder(16), schema=schema)
    try:
        record = fact("t", "acme", "category", "software", 0)
        store.apply(record.key, record, partition=0, offset=0)
        for query in ("software & !(x | y):*", "'; drop table memories; --", "<-> ' \\", ""):
            hits = store.search("t", query, k=3)
            assert [h.key for h in hits] == [record.key]  # the vector side still finds it
        assert store.search("t", "software & !(x | y):*")[0].keyword_rank == 1
    finally:
        store.close()


def test_a_layout_of_another_version_is_refused(postgres_dsn: str, schema: str) -> None:
    PostgresMemoryStore(postgres_dsn, FakeHashEmbedder(16), schema=schema).close()
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"update {schema}.meta set value = '0' where name = 'layout'")
    with pytest.raises(MemoryStoreError, match="layout 0"):
        PostgresMemoryStore(postgres_dsn, FakeHashEmbedder(16), schema=schema)


def test_an_unreachable_server_is_a_memory_store_error() -> None:
    from processors.testing.broker import free_port

    dsn = f"postgresql://postgres:secret-pw@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(MemoryStoreError, match="open") as caught:
        PostgresMemoryStore(dsn, FakeHashEmbedder(16))
    assert "secret-pw" not in str(caught.value)


def test_one_store_applies_in_one_thread_while_another_searches(
    postgres_dsn: str, schema: str
) -> None:
    store = PostgresMemoryStore(postgres_dsn, FakeHashEmbedder(16), schema=schema)
    log = stream(13, 120)
    failures: list[BaseException] = []

    def search() -> None:
        try:
            for _ in range(60):
                for hit in store.search("tenant-a", "payroll bank", k=5):
                    assert hit.record.tenant_id == "tenant-a"
        except (MemoryStoreError, AssertionError) as exc:  # the test thread fails with it
            failures.append(exc)

    searcher = threading.Thread(target=search)
    searcher.start()
    try:
        for offset, (key, record) in enumerate(log):
            assert store.apply(key, record, partition=0, offset=offset)
        searcher.join()
        assert failures == []
        assert store.positions() == {0: len(log)}
    finally:
        searcher.join()
        store.close()
