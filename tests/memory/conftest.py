"""Fixtures of the memory tests: every store the conformance suite runs against.

A store joins the suite by one entry in ``STORES`` and one fixture named
``<entry>_store_factory`` that returns a callable ``(embedder) -> MemoryStore`` giving a fresh,
empty store on every call (a new SQLite file; a new schema or database for a server)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from processors.memory.embedders import MiniLMEmbedder
from processors.memory.port import Embedder, MemoryStore
from processors.memory.sqlite_store import SqliteMemoryStore
from processors.testing.memory import StoreFactory

STORES: list[str] = ["sqlite", "postgres"]


@pytest.fixture
def sqlite_store_factory(tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[SqliteMemoryStore] = []
    numbers = itertools.count()

    def make(embedder: Embedder) -> MemoryStore:
        store = SqliteMemoryStore(tmp_path / f"memory-{next(numbers)}.sqlite", embedder)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def postgres_store_factory(postgres_dsn: str) -> Iterator[StoreFactory]:
    """Stores in fresh schemas of the session's real PostgreSQL (pgvector), dropped after."""
    import uuid

    import psycopg

    from processors.memory.postgres_store import PostgresMemoryStore

    opened: list[PostgresMemoryStore] = []
    prefix = f"c{uuid.uuid4().hex[:10]}"
    numbers = itertools.count()

    def make(embedder: Embedder) -> MemoryStore:
        store = PostgresMemoryStore(postgres_dsn, embedder, schema=f"{prefix}_{next(numbers)}")
        opened.append(store)
        return store

    yield make
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        for store in opened:
            store.close()
            conn.execute(f"drop schema if exists {store.schema} cascade")


@pytest.fixture(params=STORES)
def store_factory(request: pytest.FixtureRequest) -> StoreFactory:
    factory: StoreFactory = request.getfixturevalue(f"{request.param}_store_factory")
    return factory


@pytest.fixture(scope="session")
def minilm() -> MiniLMEmbedder:
    return MiniLMEmbedder()
