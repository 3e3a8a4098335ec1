"""Which llama.cpp slot a request goes to, so each daemon's and tenant's prefix stays warm.

llama.cpp keeps one prompt's KV cache per slot and, left to itself, gives a request the slot
sharing the most tokens with it. Every event of a daemon shares the daemon's instructions, so
that is always the slot that served the daemon last — whatever the tenant — and a tenant's
records (its chart of accounts, its client profile) are computed again whenever another
tenant came in between. Measured with the 0.5B model: tenants T1, T2, T1 on one daemon →
T1's second request computed its whole tenant block again (270 of 581 tokens), with 1 or 4
slots alike; routed by :class:`SlotRouter`, it computed 9.

The router compares whole messages (a request's messages are the daemon's part, then the
tenant's, then the event's: :mod:`processors.agent.loop`):

1. the slot sharing the most leading messages, when that is more than the first (the same
   daemon *and* the same tenant's context, or an earlier turn of the same run);
2. else a slot that has served nothing yet (a new daemon or tenant gets its own);
3. else the least recently used slot (llama.cpp's host-memory prompt cache keeps what it held).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any


def fingerprints(messages: Sequence[Any]) -> tuple[str, ...]:
    """One short hash per message (role and content), in order."""
    return tuple(
        hashlib.sha256(json.dumps(m, sort_keys=True, default=str).encode()).hexdigest()[:16]
        for m in messages
    )


def _common(a: tuple[str, ...], b: tuple[str, ...]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class SlotRouter:
    """Picks a slot per request and remembers what each slot holds (not thread-safe: the
    engine calls it under its own lock, one request at a time)."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("at least one slot")
        self._held: list[tuple[str, ...] | None] = [None] * slots
        self._used = [0] * slots
        self._clock = 0

    @property
    def slots(self) -> int:
        return len(self._held)

    def route(self, messages: Sequence[Any]) -> int:
        """The slot for a request with ``messages``; it now holds them."""
        prints = fingerprints(messages)
        shared = [_common(prints, held) if held is not None else -1 for held in self._held]
        best = max(range(self.slots), key=lambda i: (shared[i], self._used[i]))
        if shared[best] <= 1:  # nothing beyond the instructions in common
            empty = [i for i, held in enumerate(self._held) if held is None]
            best = empty[0] if empty else min(range(self.slots), key=self._used.__getitem__)
        self._clock += 1
        self._held[best], self._used[best] = prints, self._clock
        return best
