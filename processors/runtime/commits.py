"""Commits and rebalances: what the runner commits, when the broker confirmed it, and what
happens to a partition's work when the partition comes or goes.

At least once, per partition only the watermark (the offset below which every event is
finished) is committed, with the offsets finished beyond it in the commit's metadata
(:mod:`processors.runtime.offsets`); an asynchronous commit counts once the broker confirms it
(``_on_commit``). Exactly once, finished outputs wait until the watermark passes them and go
out with the offsets in one short transaction.

Every assignment starts a new *epoch* of the partition: an event of an older epoch was
abandoned (revoked, lost, rewound) and nothing it finishes counts any more.

:class:`Commits` is a part of :class:`~processors.runtime.runner.Runner` (its base class): it
owns the partitions' offsets and epochs, and drops the loop's work of a partition it gives up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from processors.errors import RunnerError
from processors.runtime.handling import TP, InFlight
from processors.runtime.keyed import KeyedQueues
from processors.runtime.metrics import RuntimeMetrics
from processors.runtime.offsets import PartitionOffsets, decode_finished, encode_finished

log = logging.getLogger("processors.runtime")


class Commits:
    """The commits (at least once and exactly once) and the rebalance callbacks."""

    # the loop's state this part reads and, for an abandoned partition, clears
    consumer: Consumer
    producer: Producer
    metrics: RuntimeMetrics
    mode: str
    commit_interval: float
    _tasks: dict[asyncio.Task[None], InFlight]
    _keyed: KeyedQueues[InFlight]
    _ready: deque[InFlight]
    _pending: int
    _fresh: list[TopicPartition]
    _lag: int | None
    _last_progress: float
    _traced: Callable[[InFlight, str, list[tuple[str, Any]]], list[tuple[str, Any]]]
    # what it owns
    _offsets: dict[TP, PartitionOffsets]
    _epochs: dict[TP, int]
    _held: dict[TP, dict[int, InFlight]]  # eos: finished, awaiting the watermark
    _last_commit: float
    _txn_busy: bool

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
