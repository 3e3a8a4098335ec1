"""Run a daemon's :class:`Runner` in a background thread, and feed/read topics, for tests."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from confluent_kafka import Consumer, KafkaError, Producer

from processors.kafka.clients import Contracts, consumer_config, ephemeral_group, producer_config
from processors.runtime.runner import Runner
from processors.settings import Settings
from processors.tracing import inject_headers


class RunnerThread:
    """``with RunnerThread(runner):`` runs it until the block ends (graceful stop)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.error: BaseException | None = None
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._stop = asyncio.Event()
        try:
            self._loop.run_until_complete(self.runner.run(self._stop))
        except BaseException as exc:  # noqa: BLE001 - surfaced to the test by stop()
            self.error = exc

    def __enter__(self) -> RunnerThread:
        self._thread.start()
        return self

    def stop(self, timeout: float = 60.0) -> None:
        while self._stop is None and self._thread.is_alive():
            time.sleep(0.01)
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise AssertionError("runner did not stop within the timeout")
        if self.error is not None:
            raise self.error

    def __exit__(self, *exc: object) -> None:
        self.stop()


def produce_events(
    settings: Settings, contracts: Contracts, topic: str, events: list[dict[str, Any]],
    headers: list[tuple[str, bytes]] | None = None, partition: int | None = None,
) -> None:  # fmt: skip
    """Encode ``events`` (Avro datums) and send them to logical ``topic``; wait for acks."""
    spec = contracts.catalog.get(topic)
    physical = contracts.catalog.physical(topic)
    producer = Producer(producer_config(settings))
    errors: list[str] = []
    extra: dict[str, Any] = {} if partition is None else {"partition": partition}
    for event in events:
        producer.produce(
            physical,
            **extra,
            key=spec.key_for(event),
            value=contracts.codec.encode(spec.value_schema, event, topic=physical),
            headers=inject_headers(list(headers or [])),
            on_delivery=lambda err, _msg: errors.append(str(err)) if err else None,
        )
        producer.poll(0)
    assert producer.flush(30) == 0 and not errors, errors


def read_topic(
    settings: Settings, contracts: Contracts, topic: str, expected: int, timeout: float = 60.0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Read ``expected`` records (read_committed) from the start of logical ``topic``."""
    consumer = Consumer(consumer_config(settings, ephemeral_group("test-reader")))
    consumer.subscribe([contracts.catalog.physical(topic)])
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            error = msg.error()
            if error is not None:
                assert error.code() == KafkaError._PARTITION_EOF, str(error)
                continue
            out.append({
                "key": msg.key(), "partition": msg.partition(), "offset": msg.offset(),
                "headers": dict(msg.headers() or []), "value": contracts.codec.decode(msg.value()),
            })  # fmt: skip
    finally:
        consumer.close()
    return out


def drain_topic(
    settings: Settings, contracts: Contracts, topic: str, idle: float = 3.0,
    timeout: float = 60.0,
) -> list[dict[str, Any]]:  # fmt: skip
    """Everything currently in ``topic``: read until every assigned partition has reached its
    end (librdkafka's partition-EOF event; for read_committed, the last stable offset) and
    then ``idle`` seconds more without a record (for records still on their way).

    Reaching the end is what proves a partition read, not time: after the assignment the
    consumer resolves each partition's start offset and its first fetch may wait
    ``fetch.wait.max.ms`` (500 ms) on an empty partition before the next fetch brings the
    others' records — about 0.6 s after the assignment on an idle machine, so an ``idle``
    of 0.5 s counted from the assignment returned nothing, every time (the recurrence
    benchmark's stall). ``TimeoutError`` when no partition is assigned, or not all reach
    their end, within ``timeout`` seconds."""
    config = consumer_config(
        settings, ephemeral_group("test-drain"), **{"enable.partition.eof": True}
    )
    consumer = Consumer(config)
    assigned: set[int] = set()
    ended: set[int] = set()

    def on_assign(_consumer: Consumer, partitions: list[Any]) -> None:
        assigned.update(p.partition for p in partitions)

    consumer.subscribe([contracts.catalog.physical(topic)], on_assign=on_assign)
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    last = time.monotonic()
    try:
        while not assigned or not ended >= assigned or time.monotonic() - last < idle:
            if time.monotonic() > deadline:
                missing = "no partition assigned" if not assigned else (
                    f"partitions {sorted(assigned - ended)} not read to their end"
                )  # fmt: skip
                raise TimeoutError(f"draining {topic}: {missing} within {timeout:.0f} s")
            msg = consumer.poll(0.1)
            if msg is None:
                continue
            error, partition = msg.error(), msg.partition()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF and partition is not None:
                    ended.add(partition)
                continue
            ended.discard(partition if partition is not None else -1)
            last = time.monotonic()
            out.append({"key": msg.key(), "headers": dict(msg.headers() or []),
                        "value": contracts.codec.decode(msg.value())})  # fmt: skip
    finally:
        consumer.close()
    return out
