"""Token buckets for requests and tokens per minute, driven by a fake clock."""

from __future__ import annotations

import asyncio

from processors.llm.config import RateLimits
from processors.llm.ratelimit import RateLimiter, TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_bucket_lets_a_burst_through_then_paces_at_the_refill_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(3, 1.0, clock=t.clock, sleep=t.sleep)

    async def take(n: int) -> list[float]:
        return [await bucket.acquire(1) for _ in range(n)]

    waits = asyncio.run(take(5))
    assert waits[:3] == [0.0, 0.0, 0.0]
    assert waits[3:] == [1.0, 1.0]
    assert t.now == 2.0


def test_requests_per_minute_limit_spaces_requests() -> None:
    t = FakeTime()
    limiter = RateLimiter(RateLimits(requests_per_minute=60), clock=t.clock, sleep=t.sleep)

    async def go() -> None:
        for _ in range(62):
            await limiter.acquire(0)

    asyncio.run(go())
    assert t.now == 2.0  # 60 at once, then one per second


def test_tokens_per_minute_charges_real_usage_after_the_fact() -> None:
    t = FakeTime()
    limiter = RateLimiter(RateLimits(tokens_per_minute=600), clock=t.clock, sleep=t.sleep)

    async def go() -> float:
        await limiter.acquire(100)
        limiter.settle(100, 700)  # the call really used 700: the bucket is now 100 in debt
        return await limiter.acquire(100)

    waited = asyncio.run(go())
    assert waited == 20.0  # 200 tokens missing at 10 tokens/s


def test_concurrent_callers_are_served_in_turn() -> None:
    t = FakeTime()
    limiter = RateLimiter(RateLimits(requests_per_minute=60), clock=t.clock, sleep=t.sleep)

    async def go() -> None:
        await asyncio.gather(*(limiter.acquire(0) for _ in range(63)))

    asyncio.run(go())
    assert t.now == 3.0
