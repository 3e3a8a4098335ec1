"""The consume → handle → produce → commit loop of one daemon process.

One asyncio loop owns the consumer and producer. Each tick it polls without blocking, hands
new events to per-key queues, launches up to ``concurrency`` handlers (each event's way through
the handler and the error policy is :mod:`processors.runtime.handling`), serves delivery
reports and commits watermarks. Rebalance callbacks run inside ``consume()`` on this same
thread.

At-least-once (``alo``): outputs are produced as soon as a handler finishes, and the next
event of its key may start then (the idempotent producer keeps their order); an event is
finished when the broker acknowledged all of them; commits carry the watermark.

Exactly-once (``eos``): finished outputs are held until the watermark passes them, then
produced with the offsets in one short transaction (never open across an LLM call).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer

from processors import telemetry
from processors.errors import DaemonsError
from processors.kafka.clients import Contracts, consumer_config, producer_config
from processors.runtime.daemon import Daemon
from processors.runtime.handling import BARE, TP, Handling, InFlight, Record
from processors.runtime.keyed import KeyedQueues
from processors.runtime.metrics import RuntimeMetrics
from processors.runtime.offsets import PartitionOffsets, decode_finished, encode_finished
from processors.settings import Settings
from processors.tracing import extract_context, trace_headers, with_trace

log = logging.getLogger("processors.runtime")
Mode = Literal["alo", "eos"]
_REJECTED = frozenset(
    {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_MSG_SIZE, KafkaError.INVALID_RECORD}
)
"""Delivery errors that are about the record, not the broker: retrying cannot help."""


def _bare(headers: list[tuple[str, Any]]) -> bool:
    """Whether a record is a bare dead letter (:meth:`Handling.bare_dead_letter`): the last
    resort, so a refusal of it is the one produce error that stops the daemon."""
    return BARE in headers


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


def stall(owned: int, pending: int, lag: int | None, quiet: float, bound: float) -> str | None:
    """The liveness rule: a loop that owns ``owned`` partitions with work — events in flight,
    lag, or a lag it has not been able to learn (None) — and has neither consumed nor
    finished an event for ``quiet`` > ``bound`` seconds is stalled; the reason, else None."""
    idle = owned == 0 or (pending == 0 and lag == 0)
    if idle or quiet <= bound:
        return None
    known = "unknown" if lag is None else str(lag)
    return (
        f"no event consumed or finished for {quiet:.0f}s with {owned} partition(s) "
        f"assigned, {pending} in flight, lag {known}"
    )


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
        stall_after: float = 600.0,
        instance: str | None = None,
        hold: float = 1.0,
        max_poll_interval_ms: int = 300_000,
    ) -> None:
        self.daemon, self.contracts, self.mode = daemon, contracts, mode
        self.concurrency = concurrency
        self.buffer = buffer or max(16 * concurrency, 1024)
        self.commit_interval, self.grace, self.hold = commit_interval, grace, hold
        self.tracer = tracer or telemetry.tracer("processors.runtime")
        self.metrics = metrics or RuntimeMetrics(daemon.name, daemon.group_id)
        self._heartbeat = heartbeat or (lambda: None)
        self.stall_after = stall_after
        self._last_lag = 0.0
        self._lag: int | None = None  # total lag of the owned partitions; None: not known
        self._last_progress = time.monotonic()  # an event consumed or finished, an assignment
        self._fresh: list[TopicPartition] = []  # assigned, fetch state not yet set
        catalog = contracts.catalog
        self._logical = {catalog.physical(t): t for t in daemon.inputs}
        self._span_names = {physical: f"process {t}" for physical, t in self._logical.items()}
        self._dlq = catalog.physical(daemon.dead_letter_topic)
        self._handling = Handling(daemon, contracts, self.metrics, self._dlq)
        extra: dict[str, str | int | float | bool] = {}
        producing = producer_config(settings)
        # what produce() refuses locally; records over it become dead letters (Handling.fit)
        self._max_bytes = int(producing.get("message.max.bytes", 1_000_000)) - 1024
        self._unproducible: deque[tuple[InFlight, Record, str]] = deque()
        if mode == "eos":
            # Stable per process slot, so a successor's init_transactions() fences its killed
            # predecessor and aborts its open transaction at once (a new random id leaves it
            # open until transaction.timeout.ms, and the partitions' offsets wait behind it).
            if instance is None:
                log.warning(
                    "exactly-once without --instance: a random transactional.id; a killed "
                    "process's open transaction then blocks its partitions until it times out"
                )
            slot = instance if instance is not None else uuid.uuid4().hex[:12]
            extra["transactional.id"] = f"{daemon.group_id}-{slot}"
        self.producer = Producer(producer_config(settings, **extra))
        group: dict[str, str | int | float | bool] = {
            "max.poll.interval.ms": max_poll_interval_ms,
            "fetch.wait.max.ms": 100,  # a resumed partition is fetched again soon
        }
        if settings.kafka.group_protocol == "classic":  # the broker's setting under KIP-848
            group["session.timeout.ms"] = 10_000
        consuming: dict[str, Any] = consumer_config(settings, daemon.group_id, **group)
        consuming["on_commit"] = self._on_commit  # offsets count as committed only there
        self.consumer = Consumer(consuming)
        self._offsets: dict[TP, PartitionOffsets] = {}
        self._epochs: dict[TP, int] = {}
        self._keyed: KeyedQueues[InFlight] = KeyedQueues()
        self._ready: deque[InFlight] = deque()
        self._tasks: dict[asyncio.Task[None], InFlight] = {}
        self._held: dict[TP, dict[int, InFlight]] = {}  # eos: finished, awaiting the watermark
        self._pending = 0  # consumed and not yet finished
        self._paused = False
        self._full_since: float | None = None  # holding since (see _backpressure)
        self._fatal: BaseException | None = None
        self._last_commit = 0.0
        self._txn_busy = False
        self._draining = False

    # ---- the loop -------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        # What exists now — modules, schemas, clients — lives as long as the process: frozen,
        # it is left out of the cyclic collector's passes. Those passes are triggered by the
        # thousands of in-flight events' objects (spans, tasks, records) that outlive the
        # youngest generation, and each full one walked the whole start-up heap again.
        gc.freeze()
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
                self._replace_unproducible()
                self._backpressure(time.monotonic())
                await self._maybe_commit()
                self.metrics.in_flight(self._pending)
                self._heartbeat()
                self._observe_lag()
                startable = self._ready and len(self._tasks) < self.concurrency
                await asyncio.sleep(0 if got or startable else 0.002)
            await self._drain()
        finally:
            self.consumer.close()
            self.producer.flush(10)

    def _poll(self) -> int:
        # While paused we still call consume() so rebalance callbacks are served; a message
        # it returns anyway (fetched before the pause) is accepted, never dropped.
        if self._full_since is not None:
            return 0  # holding (see _backpressure): librdkafka keeps what it fetched
        try:
            messages = self.consumer.consume(num_messages=1 if self._paused else 500, timeout=0)
        except KafkaException as exc:
            failure: KafkaError = exc.args[0]
            if failure.fatal():
                raise RunnerError(f"consumer: {failure}") from exc
            # a broker restarting, a coordinator loading: librdkafka recovers by itself
            log.warning("consumer: %s (retrying)", failure)
            return 0
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    if error.fatal():
                        raise RunnerError(f"consumer: {error}")
                    log.warning("consumer error: %s", error)
                continue
            self._accept(msg)
        if self._fresh:
            self._set_fetch_state()
        return len(messages)

    def _set_fetch_state(self) -> None:
        """Give newly assigned partitions the fetch state the loop is in. librdkafka keeps a
        partition's pause across a loss and a re-assignment: partitions lost while the loop
        was paused came back paused after a broker restart, while the loop, having resumed
        its (then empty) assignment, believed it was fetching — and consumed nothing again."""
        fresh, self._fresh = self._fresh, []
        owned = [p for p in fresh if (p.topic, p.partition) in self._offsets]
        if not owned:
            return
        if self._paused:
            self.consumer.pause(owned)
        else:
            self.consumer.resume(owned)

    def _accept(self, msg: Message) -> None:
        tp: TP = (msg.topic(), msg.partition())  # type: ignore[assignment]
        offsets = self._offsets.get(tp)
        if offsets is None:  # a straggler from a partition we no longer own
            return
        offset: int = msg.offset()  # type: ignore[assignment]
        if offsets.skips(offset):  # a previous owner finished it (the commit's metadata)
            self.metrics.skipped(tp[0], tp[1])
            self._last_progress = time.monotonic()
            return
        headers: list[tuple[str, bytes | None]] = msg.headers() or []  # type: ignore[assignment]
        key = msg.key()
        span = self.tracer.start_span(
            self._span_names[tp[0]],
            context=extract_context(headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": tp[0],
                "messaging.destination.partition.id": str(tp[1]),
                "messaging.kafka.offset": offset,
                "messaging.consumer.group.name": self.daemon.group_id,
                "messaging.kafka.message.key": (key or b"").decode(errors="replace"),
            },
        )
        event = InFlight(tp, self._epochs[tp], offset, key, msg.value(), headers, span, 0.0)
        offsets.started(offset)
        self._pending += 1
        self._last_progress = time.monotonic()
        self.metrics.consumed(tp[0], tp[1])
        if self._keyed.offer((tp, key) if key is not None else (tp, offset), event) is not None:
            self._ready.append(event)

    def _observe_lag(self, every: float = 5.0) -> None:
        """Every ``every`` seconds, per-partition lag from the high watermarks librdkafka
        cached from its last fetch responses: no broker round trip, so the loop never waits
        (a synchronous watermark query queues behind the fetch long-poll, seconds per call)."""
        now = time.monotonic()
        if now - self._last_lag < every or not self._offsets:
            if not self._offsets:
                self._lag = 0
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
        self._lag = total if known else None
        # Ready once assigned and caught up: the backlog fits in one in-flight buffer.
        if known and not self.metrics.ready and total <= self.buffer:
            self.metrics.set_ready(True)

    def stalled(self, now: float | None = None) -> str | None:
        """Why the loop is alive but makes no progress, or None (:func:`stall`). Liveness
        serves this (``/healthz``), so a consumer stuck with paused or silent partitions is
        restarted; keep ``stall_after`` above the slowest agent run."""
        quiet = (now if now is not None else time.monotonic()) - self._last_progress
        return stall(len(self._offsets), self._pending, self._lag, quiet, self.stall_after)

    def _launch(self) -> None:
        while self._ready and len(self._tasks) < self.concurrency:
            event = self._ready.popleft()
            if event.epoch != self._epochs.get(event.tp):
                continue
            task = asyncio.get_running_loop().create_task(self._process(event))
            self._tasks[task] = event

    def _backpressure(self, now: float) -> None:
        """Stop taking events when the in-flight buffer is full of work (:func:`fetching`):
        first only stop calling ``consume()`` (*holding*) — librdkafka keeps what it already
        fetched, so taking up again costs nothing; a pause would drop its fetched messages
        and refetch them after the resume, a few hundred milliseconds with no input. Pause
        the partitions only when the buffer stays full for ``hold`` seconds (handlers that
        take long), so that consume() serves rebalance callbacks again; resume when it frees.
        """
        runnable = len(self._tasks) + len(self._ready)
        want = fetching(self._paused, self._pending, runnable, self.buffer, self.concurrency)
        if self._paused:
            if want:
                self.consumer.resume(self.consumer.assignment())
                self._paused = False
            return
        if want:
            self._full_since = None
        elif self._full_since is None:
            self._full_since = now
        elif now - self._full_since >= self.hold:
            self._full_since = None
            assigned = self.consumer.assignment()
            if assigned:
                self.consumer.pause(assigned)
                self._paused = True

    # ---- one event --------------------------------------------------------------------------

    async def _process(self, event: InFlight) -> None:
        """One event's task (it leaves ``_tasks`` itself: a done callback per event would
        cost another turn of the loop). A failure here is the runtime's own, never the
        handler's (:class:`Handling` catches those): it stops the daemon."""
        try:
            await self._handle(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - not swallowed: run() raises it (_check_fatal)
            self._fatal = exc
        finally:
            self._tasks.pop(asyncio.current_task(), None)  # type: ignore[arg-type]

    async def _handle(self, event: InFlight) -> None:
        event.started = time.monotonic()
        logical = self._logical[event.tp[0]]
        # the consumer span is current while the handler runs: its spans nest under it
        token = otel_context.attach(trace.set_span_in_context(event.span))
        try:
            records = await self._handling.records(event, logical)
            records = self._handling.fit(event, logical, records, self._max_bytes)
        finally:
            otel_context.detach(token)
        if event.epoch != self._epochs.get(event.tp):
            return  # abandoned: the partition was revoked meanwhile
        event.records = records
        if self.mode == "eos":
            self._held.setdefault(event.tp, {})[event.offset] = event
            self._finish(event, produced=False)
            self._release(event)
            return
        event.unacked = len(records)
        for topic, key, value, headers in records:
            self._produce(event, topic, key, value, headers)
        # the idempotent producer keeps these records in order ahead of any the key's next
        # event makes: it may run now, while this one waits for the acknowledgements
        self._release(event)
        if not records:
            self._finish(event, produced=True)

    def _produce(
        self,
        event: InFlight,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: list[tuple[str, Any]],
    ) -> None:
        headers = self._traced(event, topic, headers)

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is not None and err.code() in _REJECTED and not _bare(headers):
                # the broker refused this record for what it is (the topic's own size
                # limit, say): the event is dead-lettered instead, from the loop
                self._unproducible.append((event, (topic, key, value, headers), str(err)))
                return
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
            except KafkaException as exc:
                if _bare(headers):  # even the bare dead letter was refused: nothing is left
                    raise RunnerError(f"a dead letter could not be produced: {exc}") from exc
                self._unproducible.append((event, (topic, key, value, headers), str(exc)))
                return

    def _replace_unproducible(self) -> None:
        """Records the producer or the broker refused: each becomes its event's dead letter
        (the event's other records stand), so the event still ends durably."""
        while self._unproducible:
            event, record, why = self._unproducible.popleft()
            if event.epoch != self._epochs.get(event.tp):
                continue  # the partition moved on; its next owner redoes the event
            logical = self._logical[event.tp[0]]
            if record[0] == self._dlq:  # the dead letter itself was refused: a bare one
                letter = self._handling.bare_dead_letter(event, why)
            else:
                letter = self._handling.unproducible(event, logical, record, why)
            log.warning("%s@%s: %s; dead-lettered instead", event.tp, event.offset, why)
            self._produce(event, *letter)  # unacked unchanged: one record for another

    def _finish(self, event: InFlight, *, produced: bool) -> None:
        if event.epoch != self._epochs.get(event.tp):
            return
        self._offsets[event.tp].finished(event.offset)
        self._pending -= 1
        self._last_progress = time.monotonic()
        if produced:
            event.span.end()
        self.metrics.processing_time(event.tp[0], time.monotonic() - event.started)

    def _release(self, event: InFlight) -> None:
        """The event's handler is done and its records are with the producer (or held for the
        transaction): the next event of its key may start."""
        if event.epoch != self._epochs.get(event.tp):
            return
        key = (event.tp, event.key) if event.key is not None else (event.tp, event.offset)
        follower = self._keyed.done(key)
        if follower is not None and not self._draining:
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
        """What to commit per partition: the watermark and, at least once, in the commit's
        metadata, the offsets finished beyond it (not in ``eos``: there a finished event's
        outputs are produced only in the transaction that commits its offset)."""
        offsets = []
        for tp in tps if tps is not None else list(self._offsets):
            owned = self._offsets.get(tp)
            if owned is None:
                continue
            if self.mode == "eos":
                mark = owned.committable()
                if mark is not None:
                    offsets.append(TopicPartition(tp[0], tp[1], mark))
                continue
            point = owned.commit_point()
            if point is not None:
                mark, beyond = point
                metadata = encode_finished(mark, beyond)
                offsets.append(TopicPartition(tp[0], tp[1], mark, metadata=metadata))
        return offsets

    def _commit_offsets(self, *, asynchronous: bool, tps: list[TP] | None = None) -> None:
        offsets = self._committable(tps)
        if not offsets:
            return
        try:
            if asynchronous:  # marked committed when the broker confirms (_on_commit)
                self.consumer.commit(offsets=offsets, asynchronous=True)
                return
            confirmed = self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:
            log.warning("commit failed (will retry): %s", exc)
            return
        self._on_commit(None, confirmed or [])

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        """The broker's answer to a commit: only what it confirmed counts as committed, so a
        failed asynchronous commit is offered again (``committable`` still returns its mark)
        even when the partition goes quiet."""
        if error is not None:
            log.warning("offset commit failed (will retry): %s", error)
            return
        for tp in partitions:
            owned = self._offsets.get((tp.topic, tp.partition))
            if tp.error is None and owned is not None and tp.offset >= 0:
                owned.mark_committed(tp.offset, decode_finished(tp.offset, tp.metadata))

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
                    headers = self._traced(event, topic, headers)
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

    def _traced(
        self, event: InFlight, topic: str, headers: list[tuple[str, Any]]
    ) -> list[tuple[str, Any]]:
        """``headers`` with the event's trace context — its CONSUMER span's, so what reads the
        output continues the trace under it — and the send recorded as an event of that span.
        (No PRODUCER span per output: one cost as much as the rest of an event's tracing; the
        consumer span ends when the last output is acknowledged.)"""
        event.span.add_event(f"send {topic}")
        if event.traced is None:
            event.traced = trace_headers(trace.set_span_in_context(event.span))
        return with_trace(headers, event.traced)

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
        try:
            committed = consumer.committed(partitions, timeout=30) if partitions else []
        except KafkaException as exc:  # e.g. _TIMED_OUT while the coordinator loads
            # librdkafka fetches from the committed offsets itself; the watermark of each
            # partition then starts at the first offset consumed from it
            log.warning("committed offsets not known at assignment (%s)", exc.args[0])
            committed = [TopicPartition(p.topic, p.partition, -1) for p in partitions]
        for tp in committed:
            start = tp.offset if tp.offset >= 0 else -1
            done = decode_finished(start, tp.metadata) if start >= 0 else set()
            self._start_partition((tp.topic, tp.partition), start, done)
        self._fresh.extend(partitions)
        self._last_progress = time.monotonic()  # a new owner starts its clock
        self._lag = None
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

    def _start_partition(self, tp: TP, start: int, finished: set[int] | None = None) -> None:
        self._offsets[tp] = PartitionOffsets(start, finished or ())
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
        """Stop fetching and starting events; let the running handlers finish within the
        grace period, deliver their outputs, commit. Events consumed but not started are
        left to the partition's next owner (or to us after a restart): running them now
        would only make the shutdown longer, and a SIGKILL at the end of the grace would
        leave them to be run again anyway."""
        unstarted = self._pending - len(self._tasks)
        log.info(
            "draining: %d running handler(s); %d consumed, not started, left to the next owner",
            len(self._tasks), max(0, unstarted),
        )  # fmt: skip
        self.consumer.pause(self.consumer.assignment())
        self._ready.clear()
        self._draining = True  # _release no longer queues an event's follower
        deadline = time.monotonic() + self.grace
        while self._tasks and time.monotonic() < deadline:
            self._check_fatal()
            self.producer.poll(0.01)
            self._replace_unproducible()
            await self._maybe_commit()
            await asyncio.sleep(0.005)
        self.producer.flush(10)
        self._replace_unproducible()
        self.producer.flush(10)
        await self._maybe_commit(force=True)
        for task in list(self._tasks):
            task.cancel()

    def _check_fatal(self) -> None:
        if self._fatal is not None:
            raise RunnerError(f"{self.daemon.name}: {self._fatal}") from self._fatal
