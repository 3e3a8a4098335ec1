"""Read topics from their start to where they end *now*: what the CLI's list/show commands and
the review queue need (dead letters, held results, run records), not a subscription.

Every non-empty partition is assigned from its low watermark and read, ``read_committed``,
until the high watermark seen at the start. A transaction's commit marker takes an offset no
record is returned for, so a partition also counts as done when the consumer's position has
reached the end but one (seen at end-of-partition). Records are returned in (topic, partition,
offset) order; the consumer is ephemeral and commits nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from processors.errors import DaemonsError
from processors.kafka.clients import consumer_config, ephemeral_group
from processors.settings import Settings

# Right after a topic is created its partitions may have no leader yet.
_SETTLING = (
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
)


def read_to_end(
    settings: Settings,
    topics: Sequence[str],
    *,
    purpose: str,
    timeout: float = 60.0,
    missing_ok: bool = False,
) -> list[Message]:
    """Every committed record of the physical ``topics`` up to their current end. A topic
    missing on the cluster is an error unless ``missing_ok``; ``purpose`` names the ephemeral
    consumer group (``daemons-<purpose>-…``)."""
    group = ephemeral_group(f"daemons-{purpose}")
    consumer = Consumer(consumer_config(settings, group, **{"enable.partition.eof": True}))
    found: list[Message] = []
    try:
        ends = _assign(consumer, topics, missing_ok=missing_ok)
        deadline = time.monotonic() + timeout
        while ends:
            if time.monotonic() > deadline:
                raise DaemonsError(f"{', '.join(topics)}: not at the end after {timeout:.0f}s")
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            tp = (msg.topic() or "", msg.partition() or 0)
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    raise DaemonsError(f"reading {tp[0]}: {error}")
                (position,) = consumer.position([TopicPartition(*tp)])
                if position.offset >= ends.get(tp, 0) - 1:
                    ends.pop(tp, None)
                continue
            offset, end = msg.offset() or 0, ends.get(tp)
            if end is None or offset >= end:  # written after we started: not ours to read
                ends.pop(tp, None)
                continue
            if offset >= end - 1:
                ends.pop(tp)
            found.append(msg)
    finally:
        consumer.close()
    return sorted(found, key=lambda m: (m.topic() or "", m.partition() or 0, m.offset() or 0))


def _assign(
    consumer: Consumer, topics: Sequence[str], *, missing_ok: bool
) -> dict[tuple[str, int], int]:
    """Assign every non-empty partition from its start; (topic, partition) → its end."""
    metadata = consumer.list_topics(timeout=15).topics
    starts: list[TopicPartition] = []
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        meta = metadata.get(topic)
        if meta is None or meta.error is not None or not meta.partitions:
            if missing_ok:
                continue
            raise DaemonsError(
                f"topic {topic} does not exist on the cluster (daemons topics apply)"
            )
        for partition in sorted(meta.partitions):
            low, high = _watermarks(consumer, TopicPartition(topic, partition))
            if high > low:
                starts.append(TopicPartition(topic, partition, low))
                ends[(topic, partition)] = high
    if starts:
        consumer.assign(starts)
    return ends


def _watermarks(consumer: Consumer, tp: TopicPartition, timeout: float = 15.0) -> tuple[int, int]:
    deadline = time.monotonic() + timeout
    while True:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=timeout)
            return low, high
        except KafkaException as exc:
            error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            settling = error is not None and (error.code() in _SETTLING or error.retriable())
            if not settling or time.monotonic() > deadline:
                raise DaemonsError(f"{tp.topic}/{tp.partition}: watermarks: {exc}") from exc
            time.sleep(0.2)
