"""The runner's loop against fake Kafka clients: when a key's next event may start, when a
commit may pass an event, and how a full buffer stops taking events."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from confluent_kafka import TopicPartition

from processors.kafka.clients import Contracts
from processors.runtime import runner as runner_module
from processors.runtime.daemon import EventContext, Output
from processors.runtime.runner import Runner
from processors.settings import Settings
from processors.testing.apps import answer, echo


class FakeMessage:
    def __init__(self, topic: str, partition: int, offset: int, key: bytes, value: bytes) -> None:
        self._where, self._key, self._value = (topic, partition, offset), key, value

    def topic(self) -> str:
        return self._where[0]

    def partition(self) -> int:
        return self._where[1]

    def offset(self) -> int:
        return self._where[2]

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def headers(self) -> None:
        return None

    def error(self) -> None:
        return None


class FakeConsumer:
    """One partition's messages, handed out by consume() unless paused."""

    messages: list[FakeMessage] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self._on_commit = config["on_commit"]
        self.queue = list(FakeConsumer.messages)
        self.consumes = 0
        self.paused = False
        self.pauses = 0
        self.commits: list[int] = []
        self._assign: Callable[..., None] | None = None
        FakeConsumer.last = self

    def subscribe(self, topics: list[str], **callbacks: Callable[..., None]) -> None:
        self._assign = callbacks["on_assign"]

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        self.consumes += 1
        if self._assign is not None:
            assign, self._assign = self._assign, None
            assign(self, self.assignment())
        if self.paused:
            return []
        taken, self.queue = self.queue[:num_messages], self.queue[num_messages:]
        return taken

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(FakeConsumer.messages[0].topic(), 0)]

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[Any]:
        return [TopicPartition(p.topic, p.partition, -1001) for p in partitions]

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[Any]:
        self.commits += [tp.offset for tp in offsets]
        if asynchronous:
            self._on_commit(None, offsets)
        return offsets

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused, self.pauses = True, self.pauses + 1

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused = False

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return partitions

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool) -> tuple[int, int]:
        return 0, len(FakeConsumer.messages)

    def close(self) -> None:
        pass


class FakeProducer:
    """Keeps every record; acknowledges them (delivery reports from poll) only once
    ``acking`` is set, or on flush."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.sent: list[tuple[str, bytes | None]] = []
        self.unacked: list[Callable[[Any, Any], None]] = []
        self.acking = False
        FakeProducer.last = self

    def produce(self, topic: str, value: bytes, key: bytes | None, headers: Any, **kw: Any) -> None:
        self.sent.append((topic, key))
        self.unacked.append(kw["on_delivery"])

    def poll(self, timeout: float = 0) -> int:
        return self._ack() if self.acking else 0

    def flush(self, timeout: float = 0) -> int:
        self._ack()
        return 0

    def _ack(self) -> int:
        done, self.unacked = self.unacked, []
        for on_delivery in done:
            on_delivery(None, None)
        return len(done)


@pytest.fixture
def contracts() -> Contracts:
    return Contracts.load(Settings.from_env())


def _messages(contracts: Contracts, principals: list[str]) -> list[FakeMessage]:
    spec, physical = contracts.catalog.get("questions.asked"), contracts.catalog.physical
    out = []
    for offset, principal in enumerate(principals):
        event = {
            "event_id": f"e{offset}", "tenant_id": "t1", "principal_id": principal,
            "occurred_at": dt.datetime.now(dt.UTC), "question_id": f"q{offset}",
            "question": "hi", "conversation_id": None,
        }  # fmt: skip
        value = contracts.codec.encode(spec.value_schema, event, topic=physical("questions.asked"))
        out.append(FakeMessage(physical("questions.asked"), 0, offset, spec.key_for(event), value))
    return out


def _run(
    monkeypatch: pytest.MonkeyPatch,
    contracts: Contracts,
    principals: list[str],
    handler: Callable[[dict[str, Any], EventContext], Awaitable[list[Output]]],
    scenario: Callable[[], Awaitable[None]],
    **options: Any,
) -> None:
    """Run a runner over one partition holding an event per principal while ``scenario``
    plays; the runner stops when it returns."""
    FakeConsumer.messages = _messages(contracts, principals)
    monkeypatch.setattr(runner_module, "Consumer", FakeConsumer)
    monkeypatch.setattr(runner_module, "Producer", FakeProducer)
    daemon = dataclasses.replace(echo, handler=handler)
    runner = Runner(daemon, Settings.from_env(), contracts, **options)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(runner.run(stop))
        try:
            await asyncio.wait_for(scenario(), 10)
        finally:
            stop.set()
            await asyncio.wait_for(loop, 10)

    asyncio.run(main())


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never happened: {what}")


def test_a_keys_next_event_starts_when_the_outputs_are_with_the_producer_not_acknowledged(
    monkeypatch: pytest.MonkeyPatch, contracts: Contracts
) -> None:
    """Per-key order needs the outputs in the (idempotent) producer in order, not their
    acknowledgement; the commit still waits for it."""
    started: list[int] = []

    async def handler(event: dict[str, Any], ctx: EventContext) -> list[Output]:
        started.append(ctx.offset)
        return await answer(event, ctx)

    async def scenario() -> None:
        producer, consumer = FakeProducer.last, FakeConsumer.last
        await _until(lambda: len(producer.sent) == 3, "three outputs produced")
        assert started == [0, 1, 2]  # one key: in order, each after the previous one's output
        await asyncio.sleep(0.3)  # commit intervals pass: nothing acknowledged, no commit
        assert all(offset <= 0 for offset in consumer.commits)
        producer.acking = True
        await _until(lambda: 3 in consumer.commits, "the commit after the acknowledgements")

    _run(monkeypatch, contracts, ["u1", "u1", "u1"], handler, scenario, commit_interval=0.05)


def test_a_full_buffer_stops_taking_events_and_pauses_only_when_it_stays_full(
    monkeypatch: pytest.MonkeyPatch, contracts: Contracts
) -> None:
    gate = asyncio.Event()

    async def handler(event: dict[str, Any], ctx: EventContext) -> list[Output]:
        await gate.wait()
        return await answer(event, ctx)

    async def scenario() -> None:
        producer, consumer = FakeProducer.last, FakeConsumer.last
        producer.acking = True
        await _until(lambda: consumer.consumes > 0 and not consumer.queue, "the first batch")
        await asyncio.sleep(0.05)
        consumes = consumer.consumes
        await asyncio.sleep(0.1)  # full, within the hold: consume() no longer called
        assert consumer.consumes == consumes
        assert consumer.pauses == 0
        await _until(lambda: consumer.pauses == 1, "the pause after the hold")
        gate.set()
        await _until(lambda: len(producer.sent) == 40, "every event answered")
        assert not consumer.paused

    _run(monkeypatch, contracts, [f"u{i}" for i in range(40)], handler, scenario,
         concurrency=4, buffer=8, hold=0.5)  # fmt: skip


def test_the_start_up_heap_is_left_out_of_the_collectors_passes(
    monkeypatch: pytest.MonkeyPatch, contracts: Contracts
) -> None:
    gc.unfreeze()
    before = gc.get_freeze_count()

    async def scenario() -> None:
        await _until(lambda: len(FakeProducer.last.sent) == 1, "the output")
        assert gc.get_freeze_count() > before  # the runner froze what existed when it began

    try:
        _run(monkeypatch, contracts, ["u1"], answer, scenario, commit_interval=0.05)
    finally:
        gc.unfreeze()


def test_a_plain_handler_runs_inline_in_key_order_and_commits_wait_for_the_acks(
    monkeypatch: pytest.MonkeyPatch, contracts: Contracts
) -> None:
    """A plain (non-async) handler runs in the loop, with no task per event; the guarantees
    stay: per-key order, the commit only after the acknowledgements, a failure dead-lettered."""
    started: list[tuple[str, int]] = []

    def handler(event: dict[str, Any], ctx: EventContext) -> list[Output]:
        assert asyncio.current_task() is not None  # in the loop's task: no task of its own
        started.append((event["principal_id"], ctx.offset))
        if ctx.offset == 4:
            raise ValueError("poison")  # permanent: dead-lettered, the rest flows
        return [Output("questions.answered", {
            "event_id": event["event_id"], "tenant_id": event["tenant_id"],
            "principal_id": event["principal_id"], "occurred_at": event["occurred_at"],
            "output_id": "", "run_id": f"0-{ctx.offset}", "trace_id": "",
            "question_id": event["question_id"], "can_answer": True, "answer": "ok",
        })]  # fmt: skip

    thresholds = gc.get_threshold()

    async def scenario() -> None:
        producer, consumer = FakeProducer.last, FakeConsumer.last
        await _until(lambda: len(producer.sent) == 6, "six records produced")
        assert gc.get_threshold()[0] >= 10_000  # the young generation, while the loop runs
        assert [o for p, o in started if p == "u1"] == [0, 2, 4]
        assert [o for p, o in started if p == "u2"] == [1, 3, 5]
        topics = [topic for topic, _key in producer.sent]
        assert topics.count(contracts.catalog.physical("questions.answered")) == 5
        assert topics.count(contracts.catalog.physical("question-answering.dlq")) == 1
        await asyncio.sleep(0.2)  # nothing acknowledged: nothing committed
        assert all(offset <= 0 for offset in consumer.commits)
        producer.acking = True
        await _until(lambda: 6 in consumer.commits, "the commit after the acknowledgements")

    _run(monkeypatch, contracts, ["u1", "u2"] * 3, handler, scenario, commit_interval=0.05)
    assert gc.get_threshold() == thresholds  # restored when the loop ends
