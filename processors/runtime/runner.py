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

Fetching, backpressure, lag and liveness are :mod:`processors.runtime.flow`; the commits and
the rebalance callbacks :mod:`processors.runtime.commits`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer

from processors import telemetry
from processors.errors import RunnerError
from processors.kafka.clients import Contracts, consumer_config, producer_config
from processors.runtime.commits import Commits
from processors.runtime.daemon import Daemon
from processors.runtime.eager import start_eagerly
from processors.runtime.flow import Flow, fetching, stall
from processors.runtime.handling import BARE, TP, Handling, InFlight, Record
from processors.runtime.keyed import KeyedQueues
from processors.runtime.metrics import RuntimeMetrics
from processors.runtime.offsets import PartitionOffsets
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


__all__ = ["Mode", "Runner", "RunnerError", "fetching", "stall"]


class Runner(Flow, Commits):
    """One daemon's loop (see the module docstring). Its parts by concept: fetching,
    backpressure, lag and liveness in :class:`~processors.runtime.flow.Flow`; commits and
    rebalances in :class:`~processors.runtime.commits.Commits`; one event's way through the
    handler and its outputs here."""

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
        # And the youngest generation is collected every 10,000 allocations, not 700: each
        # pass walks every young object, in-flight events' among them, and promotes them
        # to older generations walked again later (a sixth of a pass-through event's CPU,
        # benchmarks/peers.py). Cycles are still collected; restored when the loop ends.
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], 10_000), *thresholds[1:])
        try:
            await self._run(stop)
        finally:
            gc.set_threshold(*thresholds)

    async def _run(self, stop: asyncio.Event) -> None:
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

    def _launch(self) -> None:
        """Start runnable events while fewer than ``concurrency`` handlers run. An ``async``
        handler gets a task per event. A plain handler cannot wait, so its event runs here,
        inline, to its end — outputs with the producer — before the next starts; only the
        runtime's own retry backoff can suspend it, and then it becomes a task
        (:func:`~processors.runtime.eager.start_eagerly`). (Not for ``async`` handlers: their
        first step would run in this loop's task, and a timeout or cancel scope entered there
        would belong to it.)"""
        loop = asyncio.get_running_loop()
        inline = not self._handling.waits
        while self._ready and len(self._tasks) < self.concurrency:
            event = self._ready.popleft()
            if event.epoch != self._epochs.get(event.tp):
                continue
            if inline:
                task = start_eagerly(loop, self._process(event), self._task_done)
                if task is None:
                    continue
            else:
                task = loop.create_task(self._resumed(self._process(event)))
            self._tasks[task] = event

    async def _resumed(self, process: Coroutine[Any, Any, None]) -> None:
        try:
            await process
        finally:
            self._task_done()

    def _task_done(self) -> None:
        """An event's task ends (inside it): it leaves ``_tasks`` at once (a done callback
        per task would cost another turn of the loop)."""
        self._tasks.pop(asyncio.current_task(), None)  # type: ignore[arg-type]

    # ---- one event --------------------------------------------------------------------------

    async def _process(self, event: InFlight) -> None:
        """One event's way (started by :meth:`_launch`). A failure here is the runtime's own,
        never the handler's (:class:`Handling` catches those): it stops the daemon."""
        try:
            await self._handle(event)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - not swallowed: run() raises it (_check_fatal)
            self._fatal = exc

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
