"""Flow control of the runner's loop: when to fetch, when to pause, what the lag is, whether
the loop is stalled.

Backpressure (:func:`fetching`): fetching stops once the in-flight buffer is full *and* enough
of it is runnable to keep every handler busy. Stopping first only means not calling
``consume()`` (*holding*): librdkafka keeps what it fetched, so taking events up again costs
nothing. Only when the buffer stays full for ``hold`` seconds are the partitions paused (a
pause drops librdkafka's fetched messages), so that ``consume()`` serves rebalance callbacks
again while handlers are slow. Liveness (:func:`stall`) reads the same state.

:class:`Flow` is a part of :class:`~processors.runtime.runner.Runner` (its base class): it
owns the fetch state (``_paused``, ``_full_since``, ``_fresh``) and the lag, and reads the
loop's in-flight counts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from processors.errors import RunnerError
from processors.runtime.handling import TP, InFlight
from processors.runtime.metrics import RuntimeMetrics
from processors.runtime.offsets import PartitionOffsets

log = logging.getLogger("processors.runtime")


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


class Flow:
    """Fetching, backpressure, lag and liveness of the runner's loop."""

    # the loop's state this part reads (the Runner sets it up)
    consumer: Consumer
    metrics: RuntimeMetrics
    buffer: int
    concurrency: int
    hold: float
    stall_after: float
    _offsets: dict[TP, PartitionOffsets]
    _tasks: dict[asyncio.Task[None], InFlight]
    _ready: deque[InFlight]
    _pending: int
    _accept: Callable[[Message], None]
    # what it owns
    _paused: bool
    _full_since: float | None  # holding since (see _backpressure)
    _fresh: list[TopicPartition]  # assigned, fetch state not yet set
    _lag: int | None  # total lag of the owned partitions; None: not known
    _last_lag: float
    _last_progress: float  # an event consumed or finished, an assignment

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
