"""``daemons memory …`` with ``--store postgres``: the real broker and the real PostgreSQL, and
the same rebuild digest as the SQLite store's from the same topic."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Producer

from processors.cli import main
from processors.kafka.clients import Contracts, producer_config
from processors.memory.writer import MemoryWriter
from processors.settings import Settings
from processors.testing.memory import at, episode, fact

pytestmark = pytest.mark.kafka


@pytest.fixture
def pg_env(
    isolated: Settings,
    topics: Contracts,
    postgres_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[str]:
    schema = f"cli_{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", isolated.kafka.bootstrap_servers)
    monkeypatch.setenv("DAEMONS_TOPIC_PREFIX", isolated.topic_prefix)
    monkeypatch.setenv("DAEMONS_MEMORY_STORE", "postgres")
    monkeypatch.setenv("DAEMONS_POSTGRES_DSN", postgres_dsn)
    monkeypatch.setenv("DAEMONS_MEMORY_SCHEMA", schema)
    monkeypatch.setenv("DAEMONS_MEMORY_PATH", str(tmp_path / "memory.sqlite"))
    producer = Producer(producer_config(isolated))
    MemoryWriter(producer, topics).write([
        fact("t1", "V-1", "phone", "+1 555 0100", at(1)),
        fact("t1", "V-1", "phone", "+1 555 0199", at(10)),
        fact("t1", "V-1", "website", "https://acme.test", at(1)),
        fact("t1", "V-2", "account_category", "Fuel and vehicle expenses", at(1)),
        fact("t2", "V-1", "phone", "+1 555 0100", at(1)),
        episode("t1", "q-7", "what is our bank", "First Bank", run_id="r-7", when=at(2)),
    ])  # fmt: skip
    yield schema
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        for name in (schema, f"{schema}_rebuilding"):
            conn.execute(f"drop schema if exists {name} cascade")


def _lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_search_facts_forget_and_rebuild_on_postgres(
    pg_env: str, postgres_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["memory", "search", "t1", "gasoline for the van", "-k", "1"]) == 0
    (hit,) = _lines(capsys.readouterr().out)
    assert hit["record"]["entity_id"] == "V-2"  # type: ignore[index]
    assert main(["memory", "facts", "t1", "vendor:V-1", "--as-of", "2026-01-05", "--offline"]) == 0
    then = {(r["attribute"], r["value"]) for r in _lines(capsys.readouterr().out)}
    assert then == {("phone", "+1 555 0100"), ("website", "https://acme.test")}

    assert main(["memory", "forget", "--tenant", "t1", "--entity", "vendor:V-1"]) == 0
    assert _lines(capsys.readouterr().out) == [{"tenant": "t1", "forgotten_keys": 3}]
    assert main(["memory", "rebuild", "--store", "postgres"]) == 0
    captured = capsys.readouterr()
    (rebuilt,) = _lines(captured.out)
    assert rebuilt["applied"] == 9  # 6 memories and 3 tombstones, each applied once
    assert "message(s)" in captured.err
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        schemas = {
            row[0]
            for row in conn.execute(
                "select nspname from pg_namespace where nspname like %s", (f"{pg_env}%",)
            )
        }
    assert schemas == {pg_env}  # the rebuilt schema took the old one's name; nothing left over

    for as_of in ([], ["--as-of", "2026-01-05"]):
        assert main(["memory", "facts", "t1", "vendor:V-1", "--offline", *as_of]) == 0
        assert capsys.readouterr().out == ""
    assert main(["memory", "search", "t1", "phone acme website", "-k", "10", "--offline"]) == 0
    assert {h["record"]["entity_id"] for h in _lines(capsys.readouterr().out)} == {"V-2", "q-7"}  # type: ignore[index]
    assert main(["memory", "facts", "t2", "vendor:V-1", "--offline"]) == 0
    assert len(_lines(capsys.readouterr().out)) == 1  # the other tenant's V-1 stays

    # the same topic rebuilt into the SQLite store: the same content, byte for byte
    assert main(["memory", "rebuild", "--store", "sqlite"]) == 0
    assert _lines(capsys.readouterr().out)[0]["digest"] == rebuilt["digest"]


def test_without_a_dsn_the_postgres_store_says_what_to_set(
    pg_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DAEMONS_POSTGRES_DSN")
    assert main(["memory", "search", "t1", "phone", "--offline"]) != 0
    assert "needs DAEMONS_POSTGRES_DSN" in capsys.readouterr().err
