"""Client-side rate limiting with async token buckets (requests and tokens per minute).

Token counts are only known after a response, so a call first reserves an estimate and then
:meth:`RateLimiter.settle` charges (or refunds) the difference; a bucket may go negative, which
simply delays the next caller.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from processors.llm.config import RateLimits

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """Holds up to ``capacity`` tokens, refilled continuously at ``rate`` tokens per second."""

    def __init__(
        self,
        capacity: float,
        rate: float,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if capacity <= 0 or rate <= 0:
            raise ValueError("capacity and rate must be positive")
        self.capacity = capacity
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._tokens = capacity
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    @property
    def available(self) -> float:
        self._refill()
        return self._tokens

    async def acquire(self, amount: float = 1.0) -> float:
        """Wait until ``amount`` tokens (at most ``capacity``) are free and take them.
        Returns the seconds spent waiting."""
        amount = min(amount, self.capacity)
        waited = 0.0
        async with self._lock:  # first come, first served
            while True:
                self._refill()
                if self._tokens >= amount:
                    self._tokens -= amount
                    return waited
                wait = (amount - self._tokens) / self.rate
                await self._sleep(wait)
                waited += wait

    def charge(self, amount: float) -> None:
        """Take (or with a negative ``amount``, give back) tokens without waiting."""
        self._refill()
        self._tokens = min(self.capacity, self._tokens - amount)


class RateLimiter:
    """Requests-per-minute and tokens-per-minute buckets for one provider."""

    def __init__(
        self, limits: RateLimits, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        rpm, tpm = limits.requests_per_minute, limits.tokens_per_minute
        self._requests = TokenBucket(rpm, rpm / 60.0, clock=clock, sleep=sleep) if rpm else None
        self._tokens = TokenBucket(tpm, tpm / 60.0, clock=clock, sleep=sleep) if tpm else None

    async def acquire(self, estimated_tokens: int) -> float:
        """Wait for one request slot and ``estimated_tokens``; returns seconds waited."""
        waited = 0.0
        if self._requests is not None:
            waited += await self._requests.acquire(1)
        if self._tokens is not None:
            waited += await self._tokens.acquire(estimated_tokens)
        return waited

    def settle(self, estimated_tokens: int, actual_tokens: int) -> None:
        """Correct the token bucket once the real usage is known."""
        if self._tokens is not None:
            self._tokens.charge(actual_tokens - min(estimated_tokens, self._tokens.capacity))
