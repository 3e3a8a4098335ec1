"""The runtime against the real broker: order, nothing lost, dead letters, commits, traces."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from processors.kafka.clients import Contracts, consumer_config
from processors.runtime.runner import Runner
from processors.settings import Settings
from processors.testing.apps import echo
from processors.testing.runtime import RunnerThread, produce_events, read_topic

pytestmark = pytest.mark.kafka


def question(i: int, text: str, principal: str = "u1") -> dict[str, Any]:
    return {
        "event_id": f"e{i:05d}-{uuid.uuid4().hex[:6]}", "tenant_id": "t1",
        "principal_id": principal, "occurred_at": dt.datetime.now(dt.UTC),
        "question_id": f"q{i}", "question": text, "conversation_id": None,
    }  # fmt: skip


def _runner(settings: Settings, contracts: Contracts, **kw: Any) -> Runner:
    daemon = dataclasses.replace(echo, group_id=f"echo-{uuid.uuid4().hex[:8]}")
    return Runner(daemon, settings, contracts, commit_interval=0.1, grace=20, **kw)


def test_per_key_order_holds_under_concurrency_and_nothing_is_lost(
    isolated: Settings, topics: Contracts
) -> None:
    # 8 keys (principals) x 25 events, random handler times: keys overtake each other, but
    # within a key the outputs must come out in input offset order.
    import random

    rng = random.Random(1)
    events = [question(i, f"sleep:{rng.randint(0, 30)}", f"u{i % 8}") for i in range(200)]
    produce_events(isolated, topics, "questions.asked", events)
    runner = _runner(isolated, topics, concurrency=32)
    with RunnerThread(runner):
        outputs = read_topic(isolated, topics, "questions.answered", expected=200)
    assert sorted(o["value"]["event_id"] for o in outputs) == sorted(e["event_id"] for e in events)
    by_key: dict[bytes, list[int]] = {}
    for out in outputs:  # one key → one partition, so topic order is processing order
        by_key.setdefault(out["key"], []).append(int(out["value"]["run_id"].split("-")[1]))
    assert len(by_key) == 8
    for key, offsets in by_key.items():
        assert offsets == sorted(offsets), f"out of order for {key!r}"
    # Every output carries the input's event id and a deterministic output id.
    for out in outputs:
        assert out["headers"]["event_id"].decode() == out["value"]["event_id"]
        assert out["value"]["output_id"] == out["headers"]["output_id"].decode()


def test_poison_pill_is_dead_lettered_with_error_headers_and_the_partition_flows(
    isolated: Settings, topics: Contracts
) -> None:
    events = [question(0, "hi"), question(1, "poison"), question(2, "flaky:2"), question(3, "ok")]
    produce_events(isolated, topics, "questions.asked", events)
    with RunnerThread(_runner(isolated, topics)):
        outputs = read_topic(isolated, topics, "questions.answered", expected=3)
        dead = read_topic(isolated, topics, "question-answering.dlq", expected=1)
    assert [o["value"]["event_id"] for o in outputs] == [events[i]["event_id"] for i in (0, 2, 3)]
    assert outputs[1]["value"]["answer"].endswith("attempt 3")  # two transient failures retried
    (letter,) = dead
    headers = {k: v.decode() for k, v in letter["headers"].items() if k.startswith("dlq.")}
    assert headers["dlq.error.type"] == "PermanentError"
    assert headers["dlq.attempts"] == "1"
    assert headers["dlq.source.topic"] == topics.catalog.physical("questions.asked")
    assert "traceparent" in letter["headers"]
    value = letter["value"]
    assert value["event_id"] == events[1]["event_id"] and value["error_type"] == "PermanentError"
    original = topics.codec.decode(value["original_value"])
    assert original["question"] == "poison"


def test_undecodable_bytes_are_dead_lettered(isolated: Settings, topics: Contracts) -> None:
    from confluent_kafka import Producer

    from processors.kafka.clients import producer_config

    producer = Producer(producer_config(isolated))
    producer.produce(topics.catalog.physical("questions.asked"), key=b"t1:u1", value=b"garbage")
    producer.flush(10)
    produce_events(isolated, topics, "questions.asked", [question(1, "fine")])
    with RunnerThread(_runner(isolated, topics)):
        dead = read_topic(isolated, topics, "question-answering.dlq", expected=1)
        assert len(read_topic(isolated, topics, "questions.answered", expected=1)) == 1
    assert dead[0]["value"]["error_type"] == "SerdeError"
    assert dead[0]["value"]["original_value"] == b"garbage"


def test_an_event_without_a_tenant_is_dead_lettered_and_the_rest_flows(
    isolated: Settings, topics: Contracts
) -> None:
    from confluent_kafka import Producer

    from processors.kafka.clients import producer_config

    nobody = {**question(1, "hi"), "tenant_id": ""}  # the schema's string, left empty
    events = [nobody, question(2, "fine")]
    spec, physical = (
        topics.catalog.get("questions.asked"),
        topics.catalog.physical("questions.asked"),
    )
    producer = Producer(producer_config(isolated))  # a plain producer, as upstream may have
    value = topics.codec.encode(spec.value_schema, nobody, topic=physical)
    producer.produce(physical, key=b":u1", value=value)
    producer.flush(10)
    produce_events(isolated, topics, "questions.asked", events[1:])
    with RunnerThread(_runner(isolated, topics)):
        (letter,) = read_topic(isolated, topics, "question-answering.dlq", expected=1)
        (output,) = read_topic(isolated, topics, "questions.answered", expected=1)
    assert output["value"]["event_id"] == events[1]["event_id"]
    assert letter["value"]["event_id"] == nobody["event_id"]
    assert letter["value"]["error_type"] == "SchemaValidationError"
    assert "no tenant_id" in letter["value"]["error_message"]
    assert letter["value"]["attempts"] == 1  # bad input is not retried


def _committed(settings: Settings, group: str, topic: str, partitions: int) -> dict[int, int]:
    consumer = Consumer(consumer_config(settings, group))
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in tps}


def test_no_offset_is_committed_past_an_unfinished_event_and_shutdown_commits_the_rest(
    isolated: Settings, topics: Contracts
) -> None:
    # Partition 0 gets a slow event, then 30 fast events of other keys that overtake it.
    physical = topics.catalog.physical("questions.asked")
    slow = question(0, "sleep:3000", "slow")
    fast = [question(i, "x", f"k{i}") for i in range(1, 31)]
    produce_events(isolated, topics, "questions.asked", [slow, *fast], partition=0)
    runner = _runner(isolated, topics, concurrency=16)
    group = runner.daemon.group_id
    with RunnerThread(runner):
        done = read_topic(isolated, topics, "questions.answered", expected=30, timeout=30)
        time.sleep(0.5)  # several commit intervals pass while the slow event still runs
        committed = _committed(isolated, group, physical, 6)
        assert slow["event_id"] not in {o["value"]["event_id"] for o in done}
        assert committed[0] in (-1001, 0), "committed past the unfinished slow event"
    # A graceful stop lets the slow event finish and commits everything.
    assert _committed(isolated, group, physical, 6)[0] == 31


def test_one_unbroken_trace_from_upstream_producer_to_downstream_consumer(
    isolated: Settings, topics: Contracts
) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("upstream")
    with tracer.start_as_current_span("upstream send", kind=SpanKind.PRODUCER) as upstream:
        produce_events(isolated, topics, "questions.asked", [question(1, "trace me")])
    trace_id = upstream.get_span_context().trace_id
    with RunnerThread(_runner(isolated, topics, tracer=provider.get_tracer("runtime"))):
        (out,) = read_topic(isolated, topics, "questions.answered", expected=1)
    traceparent = out["headers"]["traceparent"].decode()
    assert traceparent.split("-")[1] == format(trace_id, "032x")
    assert out["value"]["trace_id"] == format(trace_id, "032x")
    spans = {s.name.split(" ")[0]: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"upstream", "process"}, "one span per event"
    process = spans["process"]
    assert process.kind == SpanKind.CONSUMER
    assert (
        process.parent is not None and process.parent.span_id == upstream.get_span_context().span_id
    )
    # the output's parent is the consumer span, which records the send and ends once the
    # output is acknowledged
    assert traceparent.split("-")[2] == format(process.context.span_id, "016x")
    answered = topics.catalog.physical("questions.answered")
    assert [e.name for e in process.events] == [f"send {answered}"]
    assert process.attributes is not None
    assert process.attributes["messaging.consumer.group.name"].startswith("echo-")
    assert process.attributes["messaging.destination.name"] == topics.catalog.physical(
        "questions.asked"
    )


def test_an_input_near_the_topic_limit_is_dead_lettered_truncated_and_the_rest_flows(
    isolated: Settings, topics: Contracts
) -> None:
    """Its dead letter would carry the whole value plus envelope and headers — over the
    producer's limit, which used to stop the daemon at this event after every restart."""
    import hashlib
    import os

    from processors.runtime.deadletter import MAX_ORIGINAL_BYTES

    huge = os.urandom(1_040_000)  # incompressible; the topic takes up to 1,048,588 bytes
    letter = _dead_letter_of(isolated, topics, huge)
    assert letter["value"]["error_type"] == "SerdeError"
    assert letter["value"]["original_value"] == huge[:MAX_ORIGINAL_BYTES]
    headers = letter["headers"]
    assert headers["dlq.original.truncated"] == b"true"
    assert headers["dlq.original.size"] == str(len(huge)).encode()
    assert headers["dlq.original.sha256"] == hashlib.sha256(huge).hexdigest().encode()
    assert headers["dlq.source.offset"] == b"0"


def test_an_async_commit_counts_only_once_the_broker_confirms_it(
    isolated: Settings, topics: Contracts
) -> None:
    """A failed asynchronous commit is offered again even if the partition goes quiet."""
    from confluent_kafka import KafkaError

    from processors.runtime.offsets import PartitionOffsets

    runner = _runner(isolated, topics)
    sent: list[list[TopicPartition]] = []

    class Committing:  # stands in for the consumer's commit call only
        def commit(self, *, offsets: list[TopicPartition], asynchronous: bool) -> None:
            assert asynchronous
            sent.append(offsets)

    tp = (topics.catalog.physical("questions.asked"), 0)
    runner._offsets[tp] = offsets = PartitionOffsets(0)
    for offset in range(5):
        offsets.started(offset)
        offsets.finished(offset)
    real, runner.consumer = runner.consumer, Committing()  # type: ignore[assignment]
    try:
        runner._commit_offsets(asynchronous=True)
        assert [(p.partition, p.offset) for p in sent[0]] == [(0, 5)]
        assert offsets.committable() == 5  # not yet confirmed
        runner._on_commit(KafkaError(KafkaError.REQUEST_TIMED_OUT), sent[0])
        assert offsets.committable() == 5  # failed: still to commit
        runner._on_commit(None, [TopicPartition(tp[0], 0, 5)])
        assert offsets.committable() is None  # confirmed
    finally:
        runner.consumer = real
        real.close()


def test_a_graceful_stop_leaves_unstarted_events_and_a_restart_reruns_only_those(
    isolated: Settings, topics: Contracts
) -> None:
    """One slow event holds the watermark back while 180 events behind it finish; the stop
    finishes the running handlers only, the commit's metadata records what finished beyond
    the watermark, and the next process skips it: nothing is run twice but what ran at the
    signal (at most the concurrency)."""
    from collections import Counter

    from processors.testing.runtime import drain_topic

    events = [question(i, "sleep:3000" if i == 0 else "sleep:30", f"u{i % 20}") for i in range(200)]
    produce_events(isolated, topics, "questions.asked", events, partition=0)
    daemon = dataclasses.replace(echo, group_id=f"echo-{uuid.uuid4().hex[:8]}")

    def runner() -> Runner:
        return Runner(daemon, isolated, topics, concurrency=8, commit_interval=0.1, grace=20)

    first = RunnerThread(runner())
    with first:
        done = read_topic(isolated, topics, "questions.answered", expected=150, timeout=60)
        assert len(done) >= 150  # event 0 (and its key's followers) still unfinished
    with RunnerThread(runner()):
        read_topic(isolated, topics, "questions.answered", expected=200, timeout=60)
        time.sleep(1)  # anything run twice has had time to show
    outputs = drain_topic(isolated, topics, "questions.answered")
    counts = Counter(o["value"]["event_id"] for o in outputs)
    assert set(counts) == {e["event_id"] for e in events}
    twice = [eid for eid, n in counts.items() if n > 1]
    assert len(twice) <= 8, f"{len(twice)} events ran twice"


def test_a_dead_letter_the_dlq_topic_refuses_goes_out_bare_and_the_rest_flows(
    isolated: Settings, topics: Contracts
) -> None:
    """A dead-letter topic with a smaller size limit than its input's: the broker refuses
    the letter (its original value), so a bare one goes instead — the coordinates, the
    error, the original's size and hash — and the daemon keeps going."""
    import hashlib
    import os

    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

    from processors.kafka.clients import admin_client

    dlq = topics.catalog.physical("question-answering.dlq")
    limit = ConfigEntry("max.message.bytes", "20000", incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource("topic", dlq, incremental_configs=[limit])
    admin = admin_client(isolated)
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)
    garbage = os.urandom(100_000)  # undecodable, and its letter is over the DLQ's limit
    letter = _dead_letter_of(isolated, topics, garbage)
    assert letter["value"]["error_type"] == "Unproducible"
    assert letter["value"]["original_value"] is None and letter["value"]["source_offset"] == 0
    assert letter["headers"]["dlq.bare"] == b"true"
    assert letter["headers"]["dlq.original.sha256"] == hashlib.sha256(garbage).hexdigest().encode()


def _dead_letter_of(isolated: Settings, topics: Contracts, raw: bytes) -> dict[str, Any]:
    """Feed ``raw`` bytes (with a plain producer, as upstream may have) and then a good
    event; run the daemon; the one dead letter, once the good event was answered too."""
    from confluent_kafka import Producer

    from processors.kafka.clients import producer_config

    producer = Producer(producer_config(isolated, **{"message.max.bytes": 1_048_576}))
    producer.produce(topics.catalog.physical("questions.asked"), key=b"t1:u1", value=raw)
    assert producer.flush(30) == 0
    produce_events(isolated, topics, "questions.asked", [question(1, "fine")])
    with RunnerThread(_runner(isolated, topics)):
        dead = read_topic(isolated, topics, "question-answering.dlq", expected=1)
        assert len(read_topic(isolated, topics, "questions.answered", expected=1)) == 1
    (letter,) = dead
    return letter
