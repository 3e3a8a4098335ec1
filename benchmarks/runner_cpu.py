"""CPU per event of the runner's own path, on in-process fake Kafka clients.

    PYTHONPATH=. .venv/bin/python benchmarks/runner_cpu.py [--events 20000 --repeat 5 --profile]

``peers.py`` measures the daemon path on a real broker beside the peers; this isolates what
the runtime controls: the ``Runner`` over a consumer that hands out pre-encoded
``QuestionAsked`` records (8 partitions, 1,000 keys, a W3C trace context in each one's
headers) and a producer that acknowledges every record at its next ``poll()``, with the
pass-through handler of ``peers.py``. No broker, no librdkafka threads: the process's CPU
seconds (``time.process_time``) per event, each repeat in a fresh runner, printed with the
lowest (the least disturbed by whatever else runs). ``--profile``: one more run under
cProfile, its top functions by own time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import datetime as dt
import json
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from confluent_kafka import TopicPartition
from opentelemetry import trace

from processors import telemetry
from processors.kafka.clients import Contracts
from processors.runtime import runner as runner_module
from processors.runtime.daemon import Daemon, EventContext, Output
from processors.runtime.runner import Runner
from processors.settings import Settings
from processors.tracing import inject_headers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime import answer

IN, OUT, PARTITIONS, KEYS = "questions.asked", "questions.answered", 8, 1000


class Message:
    __slots__ = ("_headers", "_key", "_offset", "_partition", "_topic", "_value")

    def __init__(self, topic: str, partition: int, offset: int, key: bytes, value: bytes,
                 headers: list[tuple[str, bytes]]) -> None:  # fmt: skip
        self._topic, self._partition, self._offset = topic, partition, offset
        self._key, self._value, self._headers = key, value, headers

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value

    def headers(self) -> list[tuple[str, bytes]]:
        return list(self._headers)

    def error(self) -> None:
        return None


class FakeConsumer:
    """The messages, 500 a ``consume()``; every commit confirmed at once."""

    messages: list[Message] = []

    def __init__(self, config: dict[str, Any]) -> None:
        self._on_commit = config["on_commit"]
        self.queue = list(FakeConsumer.messages)
        self.paused = False
        self._assign: Callable[..., None] | None = None

    def subscribe(self, topics: list[str], **callbacks: Callable[..., None]) -> None:
        self._topic, self._assign = topics[0], callbacks["on_assign"]

    def consume(self, num_messages: int, timeout: float) -> list[Message]:
        if self._assign is not None:
            assign, self._assign = self._assign, None
            assign(self, self.assignment())
        if self.paused:
            return []
        taken, self.queue = self.queue[:num_messages], self.queue[num_messages:]
        return taken

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(self._topic, p) for p in range(PARTITIONS)]

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[Any]:
        return [TopicPartition(p.topic, p.partition, -1001) for p in partitions]

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> list[Any]:
        if asynchronous:
            self._on_commit(None, offsets)
        return offsets

    def pause(self, partitions: list[TopicPartition]) -> None:
        self.paused = True

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused = False

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return partitions

    def get_watermark_offsets(self, tp: TopicPartition, cached: bool) -> tuple[int, int]:
        return 0, len(FakeConsumer.messages) // PARTITIONS

    def close(self) -> None:
        pass


class FakeProducer:
    """Acknowledges every record at the next ``poll()``; counts them."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.unacked: list[Callable[[Any, Any], None]] = []
        self.acked = 0
        FakeProducer.last = self

    def produce(self, topic: str, value: bytes, key: bytes | None, headers: Any, **kw: Any) -> None:
        self.unacked.append(kw["on_delivery"])

    def poll(self, timeout: float = 0) -> int:
        done, self.unacked = self.unacked, []
        for on_delivery in done:
            on_delivery(None, None)
        self.acked += len(done)
        return len(done)

    def flush(self, timeout: float = 0) -> int:
        self.poll()
        return 0


def messages(contracts: Contracts, n: int) -> list[Message]:
    spec, physical = contracts.catalog.get(IN), contracts.catalog.physical(IN)
    out = []
    for i in range(n):
        event = {
            "event_id": f"e{i:06d}", "tenant_id": "t1", "principal_id": f"u{i % KEYS}",
            "occurred_at": dt.datetime.now(dt.UTC), "question_id": f"q{i}", "question": "hi",
            "conversation_id": None,
        }  # fmt: skip
        value = contracts.codec.encode(spec.value_schema, event, topic=physical)
        key = spec.key_for(event)
        partition = hash(key) % PARTITIONS
        out.append(Message(physical, partition, i, key, value, inject_headers([])))  # type: ignore[arg-type]
    return out


def handle(event: dict[str, Any], ctx: EventContext) -> list[Output]:
    return [Output(OUT, answer(event, ctx.partition, ctx.offset))]  # peers.py's (a) handler


async def handle_async(event: dict[str, Any], ctx: EventContext) -> list[Output]:
    return handle(event, ctx)


def once(contracts: Contracts, n: int, plain: bool = True) -> float:
    """CPU seconds of one runner taking ``n`` events from start to the last acknowledgement,
    with the plain handler or the same as an ``async def``."""
    daemon = Daemon(name="cpu", inputs=(IN,), outputs=(OUT,),
                    handler=handle if plain else handle_async,
                    dead_letter_topic="question-answering.dlq", group_id="cpu")  # fmt: skip
    runner = Runner(daemon, Settings.from_env(), contracts, concurrency=256)

    async def main() -> float:
        stop = asyncio.Event()
        started = time.process_time()
        loop = asyncio.create_task(runner.run(stop))
        while FakeProducer.last.acked < n:
            await asyncio.sleep(0.001)
        used = time.process_time() - started
        stop.set()
        await loop
        return used

    return asyncio.run(main())


def bare(contracts: Contracts, n: int) -> float:
    """CPU seconds of peers.py's bare loop over the same fakes: consume, the span, decode,
    encode, produce with the span's context, offsets stored; no runtime."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from peers import Work

    work = Work(contracts)
    consumer, producer = FakeConsumer({"on_commit": None}), FakeProducer({})
    consumer._assign = None
    started = time.process_time()
    while producer.acked < n:
        for msg in consumer.consume(1000, 0.1):
            span = work.span(msg.headers(), msg.partition(), msg.offset(), "cpu")
            value, _ = work(msg.value(), msg.partition(), msg.offset())
            headers = inject_headers(None, trace.set_span_in_context(span))
            producer.produce(work.sink, key=msg.key(), value=value, headers=headers,
                             on_delivery=lambda err, msg: None)  # fmt: skip
            span.end()
        producer.poll(0)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--async-handler", action="store_true", help="an async def handler")
    parser.add_argument("--bare", action="store_true", help="peers.py's bare loop, no runtime")
    args = parser.parse_args()
    runner_module.Consumer = FakeConsumer  # type: ignore[misc]
    runner_module.Producer = FakeProducer  # type: ignore[misc]
    telemetry.tracer_provider()  # the SDK provider (no exporter), as peers.py's workers
    contracts = Contracts.load(Settings.from_env())
    FakeConsumer.messages = messages(contracts, args.events)
    plain = not args.async_handler
    run = (lambda k: bare(contracts, k)) if args.bare else (lambda k: once(contracts, k, plain))
    run(min(args.events, 2000))  # warm-up
    cpu = [run(args.events) / args.events * 1e6 for _ in range(args.repeat)]
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        once(contracts, args.events, plain)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)
    kind = "bare loop" if args.bare else "plain" if plain else "async"
    print(json.dumps({"events": args.events, "handler": kind,
                      "cpu_us_per_event": [round(c, 1) for c in cpu],
                      "lowest": round(min(cpu), 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
