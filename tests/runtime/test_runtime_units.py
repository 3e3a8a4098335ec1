"""The runtime's pure parts: commit watermarks, per-key queues, the error policy."""

from __future__ import annotations

import random

from processors.errors import BudgetExceeded, RateLimited, SerdeError, TransientError
from processors.runtime.daemon import RetryPolicy
from processors.runtime.keyed import KeyedQueues
from processors.runtime.offsets import PartitionOffsets
from processors.runtime.policy import DeadLetter, Retry, decide
from processors.runtime.runner import fetching


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
    assert isinstance(first, Retry) and 0 <= first.delay <= 1.0
    assert isinstance(second, Retry) and 0 <= second.delay <= 2.0
    assert decide(TransientError("timeout"), 3, policy, rng) == DeadLetter(
        "gave up after 3 attempts"
    )


def test_retry_after_is_honored_but_capped() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=5.0)
    assert decide(RateLimited("slow down", retry_after=3.0), 1, policy) == Retry(3.0)
    assert decide(RateLimited("slow down", retry_after=99.0), 1, policy) == Retry(5.0)


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
