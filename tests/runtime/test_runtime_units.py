"""The runtime's pure parts: commit watermarks, per-key queues, the error policy."""

from __future__ import annotations

import random

from processors.errors import BudgetExceeded, RateLimited, SerdeError, TransientError
from processors.runtime.daemon import RetryPolicy
from processors.runtime.flow import fetching, stall
from processors.runtime.keyed import KeyedQueues
from processors.runtime.offsets import PartitionOffsets
from processors.runtime.policy import DeadLetter, RetryLater, decide


def test_watermark_never_passes_an_unfinished_offset() -> None:
    offsets = PartitionOffsets(start=10)
    for o in (10, 11, 12, 13):
        offsets.started(o)
    offsets.finished(11)
    offsets.finished(13)
    assert offsets.committable() is None  # 10 is still running
    offsets.finished(10)
    assert offsets.committable() == 12  # 12 is still running
    offsets.mark_committed(12)
    offsets.finished(12)
    assert offsets.committable() == 14
    assert offsets.in_flight == 0


def test_watermark_of_a_partition_without_committed_offset() -> None:
    offsets = PartitionOffsets(start=-1)
    assert offsets.committable() is None
    offsets.started(0)
    assert (offsets.committable() or 0) <= 0  # never past the running offset 0
    offsets.finished(0)
    assert offsets.committable() == 1


def test_one_item_per_key_in_arrival_order() -> None:
    queues: KeyedQueues[int] = KeyedQueues()
    assert queues.offer("a", 1) == 1
    assert queues.offer("a", 2) is None
    assert queues.offer("b", 3) == 3  # another key runs concurrently
    assert queues.offer("a", 4) is None
    assert queues.waiting == 2
    assert queues.done("a") == 2
    assert queues.done("a") == 4
    assert queues.done("a") is None
    assert queues.offer("a", 5) == 5
    queues.drop({"a", "b"})
    assert queues.active_keys() == set()


def test_transient_errors_retry_with_bounded_jittered_backoff() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=10.0)
    rng = random.Random(7)
    first = decide(TransientError("timeout"), 1, policy, rng)
    second = decide(TransientError("timeout"), 2, policy, rng)
    assert isinstance(first, RetryLater) and 0 <= first.delay <= 1.0
    assert isinstance(second, RetryLater) and 0 <= second.delay <= 2.0
    assert decide(TransientError("timeout"), 3, policy, rng) == DeadLetter(
        "gave up after 3 attempts"
    )


def test_retry_after_is_honored_but_capped() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=5.0)
    assert decide(RateLimited("slow down", retry_after=3.0), 1, policy) == RetryLater(3.0)
    assert decide(RateLimited("slow down", retry_after=99.0), 1, policy) == RetryLater(5.0)


def test_permanent_and_unexpected_errors_dead_letter_at_once() -> None:
    policy = RetryPolicy()
    assert decide(SerdeError("bad bytes"), 1, policy) == DeadLetter("permanent error: SerdeError")
    assert isinstance(decide(BudgetExceeded("turns"), 1, policy), DeadLetter)
    assert decide(KeyError("bug"), 1, policy) == DeadLetter("unexpected error: KeyError")


def test_backpressure_pauses_when_the_buffer_holds_enough_runnable_work() -> None:
    # buffer 100, concurrency 10: fetch until 100 pending, then stop if 10+ can run
    assert fetching(False, 99, 50, buffer=100, concurrency=10)
    assert not fetching(False, 100, 10, buffer=100, concurrency=10)
    # paused: stay paused until half the buffer drained ...
    assert not fetching(True, 51, 10, buffer=100, concurrency=10)
    assert fetching(True, 50, 10, buffer=100, concurrency=10)


def test_backpressure_keeps_fetching_when_pending_work_waits_behind_busy_keys() -> None:
    # 150 pending but only 3 runnable (one partition, three keys): find other keys ...
    assert fetching(False, 150, 3, buffer=100, concurrency=10)
    assert fetching(True, 150, 3, buffer=100, concurrency=10)
    # ... but never past twice the buffer, whatever the keys
    assert not fetching(False, 200, 3, buffer=100, concurrency=10)
    assert not fetching(True, 200, 3, buffer=100, concurrency=10)


def test_a_loop_with_work_and_no_progress_past_the_bound_is_stalled() -> None:
    # owned partitions, in flight, lag, seconds quiet, bound
    assert stall(2, 0, 500, 601.0, 600.0) == (
        "no event consumed or finished for 601s with 2 partition(s) assigned, 0 in flight, lag 500"
    )
    assert stall(2, 3, 0, 601.0, 600.0) is not None  # handlers that never finish
    assert "lag unknown" in (stall(2, 0, None, 700.0, 600.0) or "")  # paused: nothing fetched
    assert stall(2, 0, 500, 599.0, 600.0) is None  # within the bound
    assert stall(2, 0, 0, 10_000.0, 600.0) is None  # caught up and idle is healthy
    assert stall(0, 0, None, 10_000.0, 600.0) is None  # no partitions (more members than them)


def test_a_dead_letter_keeps_a_bounded_original_and_says_what_it_cut() -> None:
    import hashlib

    from processors.runtime.deadletter import (
        MAX_ORIGINAL_BYTES,
        MAX_ORIGINAL_HEADER_BYTES,
        Original,
    )

    small = Original.bounded(b"k", b"v" * 10, [("traceparent", b"00-abc")])
    assert (small.key, small.value, small.headers, small.notes) == (
        b"k", b"v" * 10, [("traceparent", b"00-abc")], []
    )  # fmt: skip
    value = bytes(range(256)) * 8192  # 2 MiB
    many = [(f"h{i}", b"x" * 1000) for i in range(40)]  # 40 KB of headers
    big = Original.bounded(b"k" * (MAX_ORIGINAL_BYTES + 1), value, many)
    assert big.value == value[:MAX_ORIGINAL_BYTES] and len(big.key or b"") == MAX_ORIGINAL_BYTES
    notes = dict(big.notes)
    assert notes["dlq.original.size"] == str(len(value)).encode()
    assert notes["dlq.original.sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert notes["dlq.original.key_size"] == str(MAX_ORIGINAL_BYTES + 1).encode()
    kept = sum(len(k) + len(v or b"") for k, v in big.headers)
    assert kept <= MAX_ORIGINAL_HEADER_BYTES and big.headers == many[: len(big.headers)]
    assert notes["dlq.original.headers_dropped"] == str(40 - len(big.headers)).encode()


def test_finished_offsets_beyond_the_watermark_travel_in_the_commit_metadata() -> None:
    from processors.runtime.offsets import decode_finished, encode_finished

    p = PartitionOffsets(100)
    for o in range(100, 110):
        p.started(o)
    for o in (101, 102, 103, 105, 109):  # 100 is slow: the watermark stays at 100
        p.finished(o)
    assert p.watermark() == 100 and p.finished_beyond() == (101, 102, 103, 105, 109)
    assert p.committable() is None  # the watermark did not move ...
    assert p.commit_point() == (100, (101, 102, 103, 105, 109))  # ... but there is news
    text = encode_finished(100, p.finished_beyond())
    assert text == "pd1:1-3,5,9"
    assert decode_finished(100, text) == {101, 102, 103, 105, 109}
    p.mark_committed(100, decode_finished(100, text))
    assert p.commit_point() is None  # confirmed
    p.finished(100)
    assert p.commit_point() == (104, (105, 109))

    # the next owner skips what was finished, once, and runs the rest
    q = PartitionOffsets(100, decode_finished(100, text))
    ran = [o for o in range(100, 110) if not q.skips(o)]
    assert ran == [100, 104, 106, 107, 108] and not q.skips(101)


def test_commit_metadata_is_bounded_and_foreign_metadata_skips_nothing() -> None:
    from processors.runtime.offsets import decode_finished, encode_finished

    scattered = range(2, 20_000, 2)  # no ranges to merge: far too many for the metadata
    text = encode_finished(0, scattered, limit=200)
    assert len(text) <= 200
    kept = decode_finished(0, text)
    assert kept and kept == set(range(2, 2 + 2 * len(kept), 2))  # the nearest ones, in order
    for foreign in ("", "hello", "pd1:x", "pd1:5-2", "pd9:1-3", "pd1:0"):
        assert decode_finished(0, foreign) == set()


def test_a_repeating_librdkafka_line_is_let_through_once_per_interval() -> None:
    import logging

    from processors.kafka.logs import Repeats

    now = [0.0]
    repeats = Repeats(every=30.0, clock=lambda: now[0])

    def line(text: str) -> logging.LogRecord:
        return logging.LogRecord("FAIL", logging.ERROR, "", 0, text, None, None)

    refused = "127.0.0.1:9092/bootstrap: Connect to ipv4#127.0.0.1:9092 failed (after {}ms)"
    passed = []
    for i in range(300):  # 300 reconnect attempts in 60 s of outage
        now[0] = i * 0.2
        record = line(refused.format(i % 7))
        if repeats.filter(record):
            passed.append(record.getMessage())
    assert len(passed) == 2
    assert passed[1].endswith("(149 like it held back)")
    assert repeats.filter(line("another line"))  # other lines are not held back
