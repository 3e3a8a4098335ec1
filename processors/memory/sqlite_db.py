"""The SQLite store's file: the driver that can load ``sqlite-vec``, the connection, the
layout (tables, indexes) and the lock every use of the connection takes.

Layout (``LAYOUT``; the ``vec_index`` table is made by the store for its embedder)::

    memories   key, tenant_id, kind, entity_kind, entity_id, attribute, valid_from, valid_to,
               ends_at (valid_to, or the next version's valid_from: computed here), record, text
    vectors    key, model, dimension, embedding (float32, sqlite-vec's format)
    vec_index  vec0: the vectors (their sign bits) with tenant, kind, entity kind and validity
    keywords   FTS5 over memories.text (rowid = memories.rowid); keywords_vocab its terms
    positions  partition -> next offset of memory.facts
    meta       layout version, the index's model
"""

from __future__ import annotations

import functools
import sqlite3 as _stdlib_sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from processors.errors import MemoryStoreError

LAYOUT = "2"
OPEN_END = 2**62  # ends_at of an open-ended memory in the vector index (it holds no NULL)

SCHEMA = """
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


def connect(path: Path | str) -> Any:
    """A connection to the file with ``sqlite-vec`` loaded (autocommit: transactions are
    explicit)."""
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


_T = TypeVar("_T")
_P = ParamSpec("_P")


class _Locking(Protocol):
    _lock: threading.RLock


_S = TypeVar("_S", bound=_Locking)


def locked(method: Callable[Concatenate[_S, _P], _T]) -> Callable[Concatenate[_S, _P], _T]:
    """Run a store method under the store's lock."""

    @functools.wraps(method)
    def run(store: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        with store._lock:
            return method(store, *args, **kwargs)

    return run
