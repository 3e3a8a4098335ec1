"""Read a topic between offsets: the run index's catch-up and the dataset build's ranges.

:func:`offsets_at` turns a time into each partition's offset (the broker's time index: the
first record at or after it); :func:`scan` yields every committed record of a topic from
``starts`` up to (not including) ``ends``. The consumer is ephemeral and commits nothing:
where a reader stands is its own business (the run index keeps its positions, a dataset's
manifest records its ranges).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from processors.errors import DaemonsError, RunnerError
from processors.kafka.clients import consumer_config, ephemeral_group
from processors.settings import Settings

Offsets = dict[int, int]
"""partition -> offset."""
T = TypeVar("T")


def consumer(settings: Settings, purpose: str) -> Consumer:
    """An ephemeral read_committed consumer that reports the end of each partition."""
    group = ephemeral_group(f"daemons-{purpose}")
    return Consumer(consumer_config(settings, group, **{"enable.partition.eof": True}))


def partitions(reader: Consumer, topic: str) -> list[int]:
    """The partitions of physical ``topic``; a missing topic is an error saying so."""
    meta = reader.list_topics(topic, timeout=15).topics.get(topic)
    if meta is None or meta.error is not None or not meta.partitions:
        raise DaemonsError(f"topic {topic} does not exist on the cluster (daemons topics apply)")
    return sorted(meta.partitions)


_SETTLING = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
)
"""Right after a topic is created (or a broker restarts) its partitions may have no leader."""


def _settled(ask: Callable[[], T], what: str, timeout: float = 15.0) -> T:
    """``ask()``, asked again while the partitions have no leader yet (up to ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return ask()
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            settling = error is not None and (error.code() in _SETTLING or error.retriable())
            if not settling or time.monotonic() > deadline:
                raise DaemonsError(f"{what}: {exc}") from exc
            time.sleep(0.2)


def watermarks(reader: Consumer, topic: str) -> tuple[Offsets, Offsets]:
    """Each partition's low and high watermark."""
    lows: Offsets = {}
    highs: Offsets = {}
    for p in partitions(reader, topic):
        tp = TopicPartition(topic, p)

        def ask(tp: TopicPartition = tp) -> tuple[int, int]:
            low, high = reader.get_watermark_offsets(tp, timeout=15)
            return low, high

        lows[p], highs[p] = _settled(ask, f"{topic}[{p}]: watermarks")
    return lows, highs


def offsets_at(reader: Consumer, topic: str, when: dt.datetime | None) -> Offsets:
    """Each partition's first offset whose record's timestamp is at or after ``when`` (its
    high watermark when there is none; None: the high watermark, i.e. now)."""
    lows, highs = watermarks(reader, topic)
    if when is None:
        return highs
    ms = int(when.timestamp() * 1000)
    wanted = [TopicPartition(topic, p, ms) for p in highs]
    found = _settled(lambda: reader.offsets_for_times(wanted, timeout=15), f"{topic}: offsets")
    result: Offsets = {}
    for tp in found:
        if tp.error is not None:
            raise DaemonsError(
                f"{topic}[{tp.partition}]: offset for {when.isoformat()}: {tp.error}"
            )
        result[tp.partition] = (
            highs[tp.partition] if tp.offset < 0 else max(tp.offset, lows[tp.partition])
        )
    return result


def scan(
    reader: Consumer,
    topic: str,
    starts: Mapping[int, int],
    ends: Mapping[int, int],
    *,
    batch: int = 1000,
    timeout: float = 600.0,
) -> Iterator[Message]:
    """Every committed record of ``topic`` with ``starts[p] <= offset < ends[p]``, in
    offset order per partition (partitions interleaved). A transaction's commit marker
    takes an offset no record is returned for, so a partition is also done when the
    consumer's position reached its end."""
    remaining = {p: end for p, end in ends.items() if end > starts.get(p, 0)}
    if not remaining:
        return
    reader.assign([TopicPartition(topic, p, starts.get(p, 0)) for p in remaining])
    deadline = time.monotonic() + timeout
    try:
        while remaining:
            if time.monotonic() > deadline:
                left = sum(end - starts.get(p, 0) for p, end in remaining.items())
                raise RunnerError(f"{topic}: not at the end after {timeout:.0f}s (~{left} left)")
            messages = reader.consume(num_messages=batch, timeout=0.5)
            if not messages:
                _done_by_position(reader, topic, remaining)
                continue
            for msg in messages:
                error = msg.error()
                p = msg.partition() or 0
                if error is not None:
                    if msg.topic() != topic:
                        continue
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RunnerError(f"reading {topic}[{p}]: {error}")
                    _done_by_position(reader, topic, remaining)
                    continue
                if msg.topic() != topic:  # a straggler of the reader's previous assignment
                    continue
                # bounds from ``ends``, not ``remaining``: a partition may already count as
                # done by its position while this batch still holds its last records
                end, offset = ends.get(p), msg.offset() or 0
                if end is None or offset >= end:
                    remaining.pop(p, None)
                    continue
                if offset >= end - 1:
                    remaining.pop(p, None)
                yield msg
    finally:
        reader.unassign()


def _done_by_position(reader: Consumer, topic: str, remaining: dict[int, int]) -> None:
    for tp in reader.position([TopicPartition(topic, p) for p in remaining]):
        if tp.offset >= remaining[tp.partition]:
            remaining.pop(tp.partition)
