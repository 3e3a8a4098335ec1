"""The one error policy of the runtime. Every failure of an event comes through
:func:`decide`, and nowhere else decides whether to retry or dead-letter.

- :class:`~processors.errors.TransientError` (timeouts, 429/5xx, retriable broker errors):
  retry with exponential backoff and full jitter, honoring a peer's ``retry_after``, until
  the attempt limit; then dead-letter.
- Anything else — permanent errors (undecodable bytes, schema violations, unknown tenant,
  budget exceeded) and unexpected exceptions (bugs) — is dead-lettered at once: retrying a
  bug only delays the dead letter, and the partition must keep flowing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from processors.errors import RateLimited, TransientError
from processors.runtime.daemon import RetryPolicy


@dataclass(frozen=True)
class RetryLater:
    delay: float


@dataclass(frozen=True)
class DeadLetter:
    reason: str


Disposition = RetryLater | DeadLetter


def decide(
    error: BaseException, attempt: int, policy: RetryPolicy, rng: random.Random | None = None
) -> Disposition:
    """What to do after ``attempt`` (1-based) failed with ``error``."""
    if not isinstance(error, TransientError):
        kind = "permanent" if _is_ours(error) else "unexpected"
        return DeadLetter(f"{kind} error: {type(error).__name__}")
    if attempt >= policy.max_attempts:
        return DeadLetter(f"gave up after {attempt} attempts")
    backoff = min(policy.max_delay, policy.base_delay * 2 ** (attempt - 1))
    delay = (rng or random).uniform(0, backoff)
    if isinstance(error, RateLimited) and error.retry_after is not None:
        delay = max(delay, min(error.retry_after, policy.max_delay))
    return RetryLater(delay)


def _is_ours(error: BaseException) -> bool:
    from processors.errors import DaemonsError

    return isinstance(error, DaemonsError)
