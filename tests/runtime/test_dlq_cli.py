"""`daemons dlq list|replay` against the real broker, with envelopes written like the runtime's."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from processors.cli import main
from processors.cli.dlq import DeadLetter
from processors.daemons import registry
from processors.kafka.clients import Contracts, consumer_config, ephemeral_group, producer_config
from processors.settings import Settings

DLQ = "vendor-enrichment.dlq"
SOURCE = "vendors.discovered"
SOURCE_PARTITION = 2
T0 = dt.datetime(2026, 8, 1, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def cli_env(isolated: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", isolated.kafka.bootstrap_servers)
    monkeypatch.setenv("DAEMONS_TOPIC_PREFIX", isolated.topic_prefix)
    return isolated


def letter(contracts: Contracts, n: int, error_type: str, tenant: str = "acme") -> dict[str, Any]:
    """A DeadLetter datum as the runtime writes it; the original value is arbitrary bytes."""
    return {
        "event_id": f"ev-{n}",
        "tenant_id": tenant,
        "principal_id": "u-1",
        "occurred_at": T0,
        "daemon": "vendor-enrichment",
        "source_topic": contracts.catalog.physical(SOURCE),
        "source_partition": SOURCE_PARTITION,
        "source_offset": 100 + n,
        "original_key": f"{tenant}:desc-{n}".encode(),
        "original_value": b"\xc3\x01\x00raw-bytes-" + bytes([n, 0, 255]),
        "original_headers": [
            {"key": "event_id", "value": f"ev-{n}".encode()},
            {"key": "empty", "value": None},
        ],
        "error_type": error_type,
        "error_message": f"failure number {n}\nsecond line",
        "attempts": n + 1,
        "first_failure_at": T0,
        "last_failure_at": T0 + dt.timedelta(minutes=n),
    }


def write_letters(settings: Settings, contracts: Contracts, datums: list[dict[str, Any]]) -> None:
    topic = contracts.catalog.physical(DLQ)
    producer = Producer(producer_config(settings))
    for datum in datums:
        value = contracts.codec.encode("processdaemons.system.DeadLetter", datum, topic=topic)
        key = contracts.catalog.get(DLQ).key_for(datum)
        producer.produce(topic, key=key, value=value)
    assert producer.flush(30) == 0


def read_partition(settings: Settings, topic: str, partition: int) -> list[Any]:
    """Every record of one partition up to its high watermark."""
    consumer = Consumer(consumer_config(settings, ephemeral_group("test-dlq")))
    try:
        tp = TopicPartition(topic, partition)
        low, high = consumer.get_watermark_offsets(tp, timeout=15)
        if high == low:
            return []
        consumer.assign([TopicPartition(topic, partition, low)])
        records: list[Any] = []
        deadline = time.monotonic() + 30
        while (not records or records[-1].offset() < high - 1) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                records.append(msg)
        return records
    finally:
        consumer.close()


@pytest.mark.kafka
def test_list_prints_a_table_and_json_lines_of_every_dead_letter(
    cli_env: Settings, topics: Contracts, capsys: pytest.CaptureFixture[str]
) -> None:
    datums = [letter(topics, n, err) for n, err in enumerate(["InvalidAgentOutput", "Timeout"])]
    write_letters(cli_env, topics, datums)

    assert main(["dlq", "list", "vendor-enrichment"]) == 0
    out, err = capsys.readouterr()
    header, *rows = out.splitlines()
    assert header.split()[:3] == ["OFFSET", "EVENT", "ID"]
    assert len(rows) == 2
    source = topics.catalog.physical(SOURCE)
    assert rows[0].startswith("0/0 ") and "ev-0" in rows[0] and "InvalidAgentOutput" in rows[0]
    assert "failure number 0 second line" in rows[0]  # newlines flattened
    assert f"{source}/2/100" in rows[0] and "2026-08-01 10:00:00Z" in rows[0]
    assert "ev-1" in rows[1] and "Timeout" in rows[1] and "2026-08-01 10:01:00Z" in rows[1]
    assert f"2 dead letter(s) in {topics.catalog.physical(DLQ)}" in err

    assert main(["dlq", "list", "vendor-enrichment", "--json", "--max", "1"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    record = json.loads(line)
    assert (record["partition"], record["offset"], record["event_id"]) == (0, 0, "ev-0")
    assert record["attempts"] == 1 and record["source_offset"] == 100
    assert base64.b64decode(record["original_value"]) == datums[0]["original_value"]


@pytest.mark.kafka
def test_replay_sends_matching_originals_byte_for_byte_with_a_replay_header(
    cli_env: Settings, topics: Contracts, capsys: pytest.CaptureFixture[str]
) -> None:
    errors = ["ToolUnavailable", "InvalidAgentOutput", "ToolUnavailable", "UnknownTenant"]
    datums = [letter(topics, n, err) for n, err in enumerate(errors)]
    datums[2]["tenant_id"] = "globex"
    write_letters(cli_env, topics, datums)
    dlq = topics.catalog.physical(DLQ)
    source = topics.catalog.physical(SOURCE)

    assert main(["dlq", "replay", "vendor-enrichment", "--where", "error_type=ToolUnavailable",
                 "--where", "tenant_id=acme", "--where", "tenant_id=globex"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.count("replayed ") == 2 and f"{dlq}/0/0 event ev-0" in out

    records = read_partition(cli_env, source, SOURCE_PARTITION)
    assert len(records) == 2
    for record, n in zip(records, (0, 2), strict=True):
        assert record.key() == datums[n]["original_key"]
        assert record.value() == datums[n]["original_value"]
        assert record.headers() == [
            ("event_id", f"ev-{n}".encode()),
            ("empty", None),
            ("dlq.replayed_from", f"{dlq}/0/{n}".encode()),
        ]
    # Nothing went anywhere else.
    for partition in range(topics.catalog.get(SOURCE).partitions):
        if partition != SOURCE_PARTITION:
            assert read_partition(cli_env, source, partition) == []


@pytest.mark.kafka
def test_dry_run_and_non_matching_filters_replay_nothing(
    cli_env: Settings, topics: Contracts, capsys: pytest.CaptureFixture[str]
) -> None:
    write_letters(cli_env, topics, [letter(topics, 0, "ToolUnavailable")])
    assert main(["dlq", "replay", "vendor-enrichment", "--dry-run"]) == 0
    assert "would replay" in capsys.readouterr().out
    assert main(["dlq", "replay", "vendor-enrichment", "--where", "error_type=Nope"]) == 0
    assert "replayed 0 of 1" in capsys.readouterr().err
    source = topics.catalog.physical(SOURCE)
    assert read_partition(cli_env, source, SOURCE_PARTITION) == []
    # The logical source topic name matches the physical (prefixed) one.
    assert main(["dlq", "replay", "vendor-enrichment", "--where", f"source_topic={SOURCE}"]) == 0
    assert len(read_partition(cli_env, source, SOURCE_PARTITION)) == 1


@pytest.mark.kafka
def test_empty_dead_letter_topic_lists_nothing_and_missing_topic_is_an_error(
    cli_env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "list", "client-onboarding"]) == 2
    assert "does not exist on the cluster" in capsys.readouterr().err
    assert main(["topics", "apply"]) == 0
    capsys.readouterr()
    assert main(["dlq", "list", "client-onboarding.dlq", "--json"]) == 0
    assert capsys.readouterr().out == ""


def test_unknown_daemon_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dlq", "list", "no-such-daemon"]) == 2
    err = capsys.readouterr().err
    assert "no dead-letter topic 'no-such-daemon.dlq'" in err
    known = err.split("no-such-daemon.dlq'", 1)[1]
    assert all(name in known for name in registry.names())  # every daemon's, a user's too
    assert main(["dlq", "list", "vendors.discovered"]) == 2  # a topic, but not a DLQ


def test_where_rejects_unknown_fields(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dlq", "replay", "vendor-enrichment", "--where", "original_value=x"])
    assert "FIELD one of error_type" in capsys.readouterr().err


def test_matching_is_and_across_fields_and_or_within_one() -> None:
    envelope = {"error_type": "A", "tenant_id": "t1", "original_headers": []}
    one = DeadLetter("d", 0, 5, envelope)
    assert one.matches({})
    assert one.matches({"error_type": {"A", "B"}, "tenant_id": {"t1"}})
    assert not one.matches({"error_type": {"A"}, "tenant_id": {"t2"}})


def test_a_second_replay_replaces_the_first_replay_mark() -> None:
    headers = [{"key": "dlq.replayed_from", "value": b"old/0/1"}, {"key": "k", "value": b"v"}]
    again = DeadLetter("d", 0, 9, {"original_headers": headers})
    assert again.replay_headers() == [("k", b"v"), ("dlq.replayed_from", b"d/0/9")]


@pytest.mark.kafka
def test_a_transactionally_written_dead_letter_topic_is_read_to_its_end(
    cli_env: Settings, topics: Contracts, capsys: pytest.CaptureFixture[str]
) -> None:
    # Exactly-once daemons write dead letters in transactions: the last offset is then a
    # commit marker, never a record, and listing must still stop at the end.
    topic = topics.catalog.physical(DLQ)
    producer = Producer(producer_config(cli_env, **{"transactional.id": f"{topic}-test"}))
    producer.init_transactions(30)
    producer.begin_transaction()
    for n in range(2):
        datum = letter(topics, n, "PlanningFailed")
        value = topics.codec.encode("processdaemons.system.DeadLetter", datum, topic=topic)
        producer.produce(topic, key=f"acme:ev-{n}".encode(), value=value)
    producer.commit_transaction(30)
    started = time.monotonic()
    assert main(["dlq", "list", "vendor-enrichment", "--json"]) == 0
    assert [json.loads(x)["offset"] for x in capsys.readouterr().out.splitlines()] == [0, 1]
    assert time.monotonic() - started < 15
