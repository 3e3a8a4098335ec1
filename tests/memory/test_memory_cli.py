"""``daemons memory …`` against the real broker and a real SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from processors.cli import main
from processors.kafka.clients import Contracts, producer_config
from processors.memory.writer import MemoryWriter
from processors.settings import Settings
from processors.testing.memory import at, episode, fact

pytestmark = pytest.mark.kafka


@pytest.fixture
def cli_env(
    isolated: Settings, topics: Contracts, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", isolated.kafka.bootstrap_servers)
    monkeypatch.setenv("DAEMONS_TOPIC_PREFIX", isolated.topic_prefix)
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
    yield isolated


def _lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_facts_now_and_as_of(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "facts", "t1", "vendor:V-1"]) == 0
    now = {(r["attribute"], r["value"]) for r in _lines(capsys.readouterr().out)}
    assert now == {("phone", "+1 555 0199"), ("website", "https://acme.test")}
    assert main(["memory", "facts", "t1", "vendor:V-1", "--as-of", "2026-01-05", "--offline"]) == 0
    then = {(r["attribute"], r["value"]) for r in _lines(capsys.readouterr().out)}
    assert then == {("phone", "+1 555 0100"), ("website", "https://acme.test")}


def test_search_stays_in_the_tenant(cli_env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["memory", "search", "t1", "gasoline for the van", "-k", "1"]) == 0
    (hit,) = _lines(capsys.readouterr().out)
    assert hit["record"]["entity_id"] == "V-2"  # type: ignore[index]
    assert main(["memory", "search", "t2", "phone", "-k", "10", "--offline"]) == 0
    assert {h["record"]["tenant_id"] for h in _lines(capsys.readouterr().out)} == {"t2"}  # type: ignore[index]


def test_forget_an_entity_then_rebuild_keeps_nothing_of_it(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["memory", "forget", "--tenant", "t1", "--entity", "vendor:V-1"]) == 0
    assert _lines(capsys.readouterr().out) == [{"tenant": "t1", "forgotten_keys": 3}]
    assert main(["memory", "rebuild", "--store", "sqlite"]) == 0
    captured = capsys.readouterr()
    (summary,) = _lines(captured.out)
    assert summary["applied"] == 9  # 6 memories and 3 tombstones, each applied once
    assert "message(s)" in captured.err
    for as_of in ([], ["--as-of", "2026-01-05"]):
        assert main(["memory", "facts", "t1", "vendor:V-1", "--offline", *as_of]) == 0
        assert capsys.readouterr().out == ""
    assert main(["memory", "search", "t1", "phone acme website", "-k", "10", "--offline"]) == 0
    assert {h["record"]["entity_id"] for h in _lines(capsys.readouterr().out)} == {"V-2", "q-7"}  # type: ignore[index]
    assert main(["memory", "facts", "t2", "vendor:V-1", "--offline"]) == 0
    assert len(_lines(capsys.readouterr().out)) == 1  # the other tenant's V-1 stays

    assert main(["memory", "rebuild"]) == 0
    assert _lines(capsys.readouterr().out)[0]["digest"] == summary["digest"]


def test_a_bad_entity_is_a_usage_error(cli_env: Settings) -> None:
    with pytest.raises(SystemExit):
        main(["memory", "facts", "t1", "V-1"])
