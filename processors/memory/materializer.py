"""``memory.facts`` into a :class:`~processors.memory.port.MemoryStore`, like a Kafka Streams
state store: the store's own positions are the offsets (no consumer group commits), so a
store resumes where it left off, and a fresh store rebuilds from offset 0.

:meth:`Materializer.catch_up` reads every partition up to the end it saw when it started and
returns; :meth:`Materializer.follow` keeps reading until told to stop. A record that cannot be
decoded, or whose key is not its own, stops materialization with the partition and offset:
a store that skipped a record would no longer be the topic's view.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, TopicPartition

from processors.errors import MemoryStoreError, RunnerError, SerdeError
from processors.kafka.clients import Contracts, consumer_config, ephemeral_group
from processors.memory.port import MemoryStore
from processors.memory.records import TOPIC, MemoryRecord
from processors.settings import Settings


@dataclass
class Progress:
    """Where a catch-up stands: messages applied and, per partition, position and end."""

    applied: int = 0
    skipped: int = 0
    positions: dict[int, int] = field(default_factory=dict)
    ends: dict[int, int] = field(default_factory=dict)
    starts: dict[int, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def total(self) -> int:
        """Offsets between the store's positions at the start and the ends."""
        return sum(max(0, end - self.starts.get(p, 0)) for p, end in self.ends.items())

    @property
    def remaining(self) -> int:
        return sum(max(0, end - self.positions.get(p, 0)) for p, end in self.ends.items())

    @property
    def done(self) -> bool:
        return self.remaining == 0


class Materializer:
    """Reads ``memory.facts`` (under the settings' topic prefix) into ``store``."""

    def __init__(
        self, settings: Settings, contracts: Contracts, store: MemoryStore, *, poll: float = 0.5
    ) -> None:
        self._settings = settings
        self._contracts = contracts
        self._store = store
        self._topic = contracts.catalog.physical(TOPIC)
        self._poll = poll

    def _consumer(self) -> tuple[Consumer, list[int]]:
        consumer = Consumer(
            consumer_config(
                self._settings,
                ephemeral_group("daemons-memory"),
                **{"enable.partition.eof": True},
            )
        )
        metadata = consumer.list_topics(self._topic, timeout=10)
        topic = metadata.topics.get(self._topic)
        if topic is None or topic.error is not None:
            consumer.close()
            reason = topic.error if topic is not None else "missing"
            raise RunnerError(f"{self._topic}: cannot read: {reason}")
        partitions = sorted(topic.partitions)
        start = self._store.positions()
        consumer.assign(
            [TopicPartition(self._topic, p, start.get(p, 0)) for p in partitions]
        )  # fmt: skip
        return consumer, partitions

    def catch_up(
        self, on_progress: Callable[[Progress], None] | None = None, *, timeout: float = 600.0
    ) -> Progress:
        """Apply everything up to the end offsets seen at the start, then return."""
        consumer, partitions = self._consumer()
        try:
            progress = Progress(positions=dict(self._store.positions()))
            for p in partitions:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(self._topic, p), timeout=10
                )
                progress.ends[p] = high
                progress.positions.setdefault(p, 0)
                if progress.positions[p] > high:
                    raise MemoryStoreError(
                        f"{self._topic}[{p}]: the store is at offset {progress.positions[p]}, "
                        f"past the topic's end {high}: it was built from another topic; rebuild it"
                    )
                progress.starts[p] = progress.positions[p]
            deadline = time.monotonic() + timeout
            last_report = 0.0
            while not progress.done:
                if time.monotonic() > deadline:
                    raise RunnerError(
                        f"{self._topic}: catch-up did not finish in {timeout:.0f} s "
                        f"({progress.remaining} message(s) left)"
                    )
                self._step(consumer, progress)
                now = time.monotonic()
                if on_progress is not None and now - last_report >= 1.0:
                    on_progress(progress)
                    last_report = now
            if on_progress is not None:
                on_progress(progress)
            return progress
        finally:
            consumer.close()

    def follow(self, stop: threading.Event) -> Progress:
        """Apply messages as they come until ``stop`` is set."""
        consumer, _ = self._consumer()
        try:
            progress = Progress(positions=dict(self._store.positions()))
            while not stop.is_set():
                self._step(consumer, progress)
            return progress
        finally:
            consumer.close()

    def _step(self, consumer: Consumer, progress: Progress) -> None:
        msg = consumer.poll(self._poll)
        if msg is None:
            self._positions_from(consumer, progress)
            return
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                self._positions_from(consumer, progress)
                return
            raise RunnerError(f"consuming {self._topic}: {error}")
        partition, offset = msg.partition(), msg.offset()
        if partition is None or offset is None:
            raise RunnerError(f"consuming {self._topic}: a message without a position")
        if self.apply_message(msg.key(), msg.value(), partition=partition, offset=offset):
            progress.applied += 1
        else:
            progress.skipped += 1
        progress.positions[partition] = offset + 1

    @staticmethod
    def _positions_from(consumer: Consumer, progress: Progress) -> None:
        """The consumer's own positions: past transaction markers, which carry no message."""
        for tp in consumer.position(consumer.assignment()):
            if tp.offset >= 0:
                progress.positions[tp.partition] = max(
                    progress.positions.get(tp.partition, 0), tp.offset
                )

    def apply_message(
        self, key: bytes | None, value: bytes | None, *, partition: int, offset: int
    ) -> bool:
        """Decode one message and apply it to the store (``value`` ``None``: a tombstone)."""
        where = f"{self._topic}[{partition}]@{offset}"
        if key is None:
            raise MemoryStoreError(f"{where}: a memory without a key")
        record: MemoryRecord | None = None
        if value is not None:
            try:
                datum: dict[str, Any] = self._contracts.codec.decode(value)
                record = MemoryRecord.from_avro(datum)
            except (SerdeError, ValueError) as exc:
                raise MemoryStoreError(f"{where}: undecodable memory: {exc}") from exc
        return self._store.apply(key.decode(), record, partition=partition, offset=offset)
