"""The consume → handle → produce → commit loop of one daemon process.

One asyncio loop owns the consumer and producer. Each tick it polls without blocking, hands
new events to per-key queues, launches up to ``concurrency`` handlers (each event's way through
the handler and the error policy is :mod:`processors.runtime.handling`), serves delivery
reports and commits watermarks. Rebalance callbacks run inside ``consume()`` on this same
thread.

At-least-once (``alo``): outputs are produced as soon as a handler finishes; an event is
finished when the broker acknowledged all of them; commits carry the watermark.

Exactly-once (``eos``): finished outputs are held until the watermark passes them, then
produced with the offsets in one short transaction (never open across an LLM call).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer

from processors import telemetry
from processors.errors import DaemonsError
from processors.kafka.clients import Contracts, consumer_config, producer_config
from processors.runtime.daemon import Daemon
from processors.runtime.handling import TP, Handling, InFlight
from processors.runtime.keyed import KeyedQueues
from processors.runtime.metrics import RuntimeMetrics
from processors.runtime.offsets import PartitionOffsets
from processors.settings import Settings
from processors.tracing import extract_context, inject_headers

log = logging.getLogger("processors.runtime")
Mode = Literal["alo", "eos"]


def fetching(paused: bool, pending: int, runnable: int, buffer: int, concurrency: int) -> bool:
    """Whether the consumer should fetch (the backpressure rule).

    Stop when ``buffer`` events are consumed and unfinished *and* enough of them are
    runnable to keep ``concurrency`` handlers busy; start again once half the buffer drained.
    Events queued behind a busy key are not runnable: when a batch came from one partition
    with few keys, keep fetching (up to ``2 * buffer``) to find other keys rather than idle
    with budget to spare.
    """
    starved = runnable < concurrency and pending < 2 * buffer
    if paused:
        return starved or pending <= buffer // 2
    return pending < buffer or starved


class RunnerError(DaemonsError):
    """The runner cannot go on (fatal producer error, fenced transactional producer)."""


class Runner:
    def __init__(
        self,
        daemon: Daemon,
        settings: Settings,
        contracts: Contracts,
        *,
        concurrency: int = 64,
        mode: Mode = "alo",
        buffer: int | None = None,
        commit_interval: float = 0.2,
        grace: float = 30.0,
        tracer: Tracer | None = None,
        metrics: RuntimeMetrics | None = None,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.daemon, self.contracts, self.mode = daemon, contracts, mode
        self.concurrency = concurrency
        self.buffer = buffer or max(16 * concurrency, 1024)
        self.commit_interval, self.grace = commit_interval, grace
        self.tracer = tracer or telemetry.tracer("processors.runtime")
        self.metrics = metrics or RuntimeMetrics(daemon.name, daemon.group_id)
        self._heartbeat = heartbeat or (lambda: None)
        self._last_lag = 0.0
        catalog = contracts.catalog
        self._logical = {catalog.physical(t): t for t in daemon.inputs}
        self._handling = Handling(
            daemon, contracts, self.metrics, catalog.physical(daemon.dead_letter_topic)
        )
        extra: dict[str, str | int | float | bool] = {}
        if mode == "eos":
            extra["transactional.id"] = f"{daemon.group_id}-{uuid.uuid4().hex[:12]}"
        self.producer = Producer(producer_config(settings, **extra))
        self.consumer = Consumer(
            consumer_config(
                settings,
                daemon.group_id,
                **{
                    "max.poll.interval.ms": 300_000,
                    "session.timeout.ms": 10_000,
                    "fetch.wait.max.ms": 100,  # a resumed partition is fetched again soon
                },
            )
        )
        self._offsets: dict[TP, PartitionOffsets] = {}
        self._epochs: dict[TP, int] = {}
        self._keyed: KeyedQueues[InFlight] = KeyedQueues()
        self._ready: deque[InFlight] = deque()
        self._tasks: dict[asyncio.Task[None], InFlight] = {}
        self._held: dict[TP, dict[int, InFlight]] = {}  # eos: finished, awaiting the watermark
        self._pending = 0  # consumed and not yet finished
        self._paused = False
        self._fatal: BaseException | None = None
        self._last_commit = 0.0
        self._txn_busy = False

    # ---- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        if self.mode == "eos":
            self.producer.init_transactions(30)
        self.consumer.subscribe(
            list(self._logical),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        try:
            while not stop.is_set():
                self._check_fatal()
                got = self._poll()
                self._launch()
                self.producer.poll(0)
                self._backpressure()
                await self._maybe_commit()
                self.metrics.in_flight(self._pending)
                self._heartbeat()
                self._observe_lag()
                await asyncio.sleep(0 if got else 0.002)
            await self._drain()
        finally:
            self.consumer.close()
            self.producer.flush(10)

    def _poll(self) -> int:
        # While paused we still call consume() so rebalance callbacks are served; a message
        # it returns anyway (fetched before the pause) is accepted, never dropped.
        messages = self.consumer.consume(num_messages=1 if self._paused else 500, timeout=0)
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    if error.fatal():
                        raise RunnerError(f"consumer: {error}")
                    log.warning("consumer error: %s", error)
                continue
            self._accept(msg)
        return len(messages)

    def _accept(self, msg: Message) -> None:
        tp: TP = (msg.topic(), msg.partition())  # type: ignore[assignment]
        offsets = self._offsets.get(tp)
        if offsets is None:  # a straggler from a partition we no longer own
            return
        offset: int = msg.offset()  # type: ignore[assignment]
        headers: list[tuple[str, bytes | None]] = list(msg.headers() or [])  # type: ignore[arg-type]
        span = self.tracer.start_span(
            f"process {self._logical[tp[0]]}",
            context=extract_context(headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": tp[0],
                "messaging.destination.partition.id": str(tp[1]),
                "messaging.kafka.offset": offset,
                "messaging.consumer.group.name": self.daemon.group_id,
                "messaging.kafka.message.key": (msg.key() or b"").decode(errors="replace"),
            },
        )
        event = InFlight(tp, self._epochs[tp], offset, msg.key(), msg.value(), headers, span, 0.0)
        offsets.started(offset)
        self._pending += 1
        self.metrics.consumed(tp[0], tp[1])
        key = (tp, event.key) if event.key is not None else (tp, offset)
        if self._keyed.offer(key, event) is not None:
            self._ready.append(event)

    def _observe_lag(self, every: float = 5.0) -> None:
        """Every ``every`` seconds, per-partition lag from the high watermarks librdkafka
        cached from its last fetch responses: no broker round trip, so the loop never waits
        (a synchronous watermark query queues behind the fetch long-poll, seconds per call)."""
        now = time.monotonic()
        if now - self._last_lag < every or not self._offsets:
            return
        self._last_lag = now
        total, known = 0, True
        for tp in self.consumer.position([TopicPartition(*tp) for tp in self._offsets]):
            owned = self._offsets[(tp.topic, tp.partition)]
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True) or (-1, -1)
            if high < 0:  # nothing fetched yet: unknown, not zero
                known = False
                continue
            position = tp.offset if tp.offset >= 0 else owned.watermark()
            lag = max(0, high - max(position, 0))
            total += lag
            self.metrics.lag(tp.topic, tp.partition, lag)
        # Ready once assigned and caught up: the backlog fits in one in-flight buffer.
        if known and not self.metrics.ready and total <= self.buffer:
            self.metrics.set_ready(True)

    def _launch(self) -> None:
        while self._ready and len(self._tasks) < self.concurrency:
            event = self._ready.popleft()
            if event.epoch != self._epochs.get(event.tp):
                continue
            task = asyncio.get_running_loop().create_task(self._process(event))
            self._tasks[task] = event
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            self._fatal = task.exception()

    def _backpressure(self) -> None:
        """Pause fetching when the in-flight buffer is full of work; resume when it frees."""
        runnable = len(self._tasks) + len(self._ready)
        want = fetching(self._paused, self._pending, runnable, self.buffer, self.concurrency)
        if want == self._paused:  # paused but should fetch, or fetching but should pause
            if want:
                self.consumer.resume(self.consumer.assignment())
                self._paused = False
            else:
                assigned = self.consumer.assignment()
                if assigned:
                    self.consumer.pause(assigned)
                    self._paused = True

    # ---- one event --------------------------------------------------------------------------

    async def _process(self, event: InFlight) -> None:
        event.started = time.monotonic()
        logical = self._logical[event.tp[0]]
        with trace.use_span(event.span, end_on_exit=False):
            records = await self._handling.records(event, logical)
        if event.epoch != self._epochs.get(event.tp):
            return  # abandoned: the partition was revoked meanwhile
        event.records = records
        if self.mode == "eos":
            self._held.setdefault(event.tp, {})[event.offset] = event
            self._finish(event, produced=False)
            return
        event.unacked = len(records)
        if not records:
            self._finish(event, produced=True)
        for topic, key, value, headers in records:
            self._produce(event, topic, key, value, headers)

    def _produce(
        self,
        event: InFlight,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, Any]],
    ) -> None:
        headers = self._send_span(event, topic, headers)

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None:
                self._fatal = RunnerError(f"delivery to {topic} failed: {err}")
                return
            self.metrics.produced(topic)
            event.unacked -= 1
            if event.unacked == 0:
                self._finish(event, produced=True)

        while True:
            try:
                self.producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=on_delivery
                )
                return
            except BufferError:
                self.producer.poll(0.05)  # local queue full: serve delivery reports

    def _finish(self, event: InFlight, *, produced: bool) -> None:
        if event.epoch != self._epochs.get(event.tp):
            return
        self._offsets[event.tp].finished(event.offset)
        self._pending -= 1
        if produced:
            event.span.end()
        self.metrics.processing_time(event.tp[0], time.monotonic() - event.started)
        key = (event.tp, event.key) if event.key is not None else (event.tp, event.offset)
        follower = self._keyed.done(key)
        if follower is not None:
            self._ready.append(follower)

    # ---- commits ------------------------------------------------------------------------------

    async def _maybe_commit(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_commit < self.commit_interval:
            return
        self._last_commit = now
        if self.mode == "eos":
            await self._commit_transaction()
        else:
            self._commit_offsets(asynchronous=not force)

    def _committable(self, tps: list[TP] | None = None) -> list[TopicPartition]:
        offsets = []
        for tp in tps if tps is not None else list(self._offsets):
            mark = self._offsets[tp].committable() if tp in self._offsets else None
            if mark is not None:
                offsets.append(TopicPartition(tp[0], tp[1], mark))
        return offsets

    def _commit_offsets(self, *, asynchronous: bool, tps: list[TP] | None = None) -> None:
        offsets = self._committable(tps)
        if not offsets:
            return
        try:
            if asynchronous:
                self.consumer.commit(offsets=offsets, asynchronous=True)
            else:
                self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("commit failed (will retry): %s", exc)
            return
        for tp in offsets:
            self._offsets[(tp.topic, tp.partition)].mark_committed(tp.offset)

    async def _commit_transaction(self) -> None:
        """Produce held outputs below each watermark and commit them with the offsets."""
        if self._txn_busy:
            return
        offsets = self._committable()
        if not offsets:
            return
        batch: list[InFlight] = []
        for tp in offsets:
            held = self._held.get((tp.topic, tp.partition), {})
            for offset in sorted(o for o in held if o < tp.offset):
                batch.append(held.pop(offset))
        self._txn_busy = True
        try:
            self.producer.begin_transaction()
            for event in batch:
                for topic, key, value, headers in event.records:
                    headers = self._send_span(event, topic, headers)
                    self.producer.produce(topic, value=value, key=key, headers=headers)
            metadata = self.consumer.consumer_group_metadata()
            await asyncio.to_thread(
                self.producer.send_offsets_to_transaction, offsets, metadata, 30
            )
            await asyncio.to_thread(self.producer.commit_transaction, 30)
        except KafkaException as exc:
            self._recover_transaction(exc)
            return
        finally:
            self._txn_busy = False
        for tp in offsets:
            if (tp.topic, tp.partition) in self._offsets:
                self._offsets[(tp.topic, tp.partition)].mark_committed(tp.offset)
        for event in batch:
            event.span.end()
            for topic, *_ in event.records:
                self.metrics.produced(topic)

    def _send_span(
        self, event: InFlight, topic: str, headers: list[tuple[str, Any]]
    ) -> list[tuple[str, Any]]:
        """A PRODUCER span under the event's consumer span; its context goes into the headers."""
        with self.tracer.start_as_current_span(
            f"send {topic}", context=trace.set_span_in_context(event.span), kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": topic},
        ):  # fmt: skip
            return inject_headers(headers)

    def _recover_transaction(self, exc: KafkaException) -> None:
        error: KafkaError = exc.args[0]
        if error.fatal() or (not error.txn_requires_abort() and not error.retriable()):
            raise RunnerError(f"transaction failed fatally (fenced?): {error}") from exc
        log.warning("transaction aborted, rewinding to committed offsets: %s", error)
        if error.txn_requires_abort():
            self.producer.abort_transaction(30)
        # Everything not committed is redone: rewind each partition to its committed offset.
        for tp in list(self._offsets):
            self._abandon(tp)
            committed = self.consumer.committed([TopicPartition(*tp)], timeout=30)[0]
            start = committed.offset if committed.offset >= 0 else 0
            self._start_partition(tp, start)
            self.consumer.seek(TopicPartition(tp[0], tp[1], start))

    # ---- rebalances ------------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        committed = consumer.committed(partitions, timeout=30) if partitions else []
        for tp in committed:
            self._start_partition((tp.topic, tp.partition), tp.offset if tp.offset >= 0 else -1)
        log.info("assigned %s", [(p.topic, p.partition) for p in partitions])

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = [(p.topic, p.partition) for p in partitions]
        if self.mode == "alo":
            self.producer.flush(10)  # deliver what finished, so its offsets can be committed
            self._commit_offsets(asynchronous=False, tps=[tp for tp in tps if tp in self._offsets])
        for tp in tps:
            self._abandon(tp)
            self._offsets.pop(tp, None)
            self.metrics.forget_partition(*tp)
        log.info("revoked %s", tps)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in [(p.topic, p.partition) for p in partitions]:
            self._abandon(tp)
            self._offsets.pop(tp, None)
            self.metrics.forget_partition(*tp)
        log.warning("lost %s", [(p.topic, p.partition) for p in partitions])

    def _start_partition(self, tp: TP, start: int) -> None:
        self._offsets[tp] = PartitionOffsets(start)
        self._epochs[tp] = self._epochs.get(tp, 0) + 1

    def _abandon(self, tp: TP) -> None:
        """Forget a partition's unfinished work: the next owner (or we, after a rewind)
        redoes it from the committed offset."""
        self._epochs[tp] = self._epochs.get(tp, 0) + 1
        offsets = self._offsets.get(tp)
        if offsets is not None:
            self._pending -= offsets.in_flight
        for task, event in list(self._tasks.items()):
            if event.tp == tp:
                task.cancel()
                event.span.end()
        self._held.pop(tp, None)
        self._keyed.drop(self._keyed_keys(tp))
        self._ready = deque(e for e in self._ready if e.tp != tp)

    def _keyed_keys(self, tp: TP) -> set[Any]:
        return {key for key in self._keyed.active_keys() if key[0] == tp}  # type: ignore[index]

    # ---- shutdown --------------------------------------------------------------------------------

    async def _drain(self) -> None:
        """Stop fetching, let in-flight work finish within the grace period, commit."""
        log.info("draining %d in-flight event(s)", self._pending)
        self.consumer.pause(self.consumer.assignment())
        deadline = time.monotonic() + self.grace
        while (self._tasks or self._ready or self._pending) and time.monotonic() < deadline:
            self._check_fatal()
            self._launch()
            self.producer.poll(0.01)
            await self._maybe_commit()
            await asyncio.sleep(0.005)
        self.producer.flush(10)
        await self._maybe_commit(force=True)
        for task in list(self._tasks):
            task.cancel()

    def _check_fatal(self) -> None:
        if self._fatal is not None:
            raise RunnerError(f"{self.daemon.name}: {self._fatal}") from self._fatal
