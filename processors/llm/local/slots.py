"""Which llama.cpp slot a request goes to, so each daemon's and tenant's prefix stays warm.

llama.cpp keeps one prompt's KV cache per slot and, left to itself, gives a request the slot
sharing the most tokens with it. Every event of a daemon shares the daemon's instructions, so
that is always the slot that served the daemon last — whatever the tenant — and a tenant's
records (its chart of accounts, its client profile) are computed again whenever another
tenant came in between. Measured with the 0.5B model: tenants T1, T2, T1 on one daemon →
T1's second request computed its whole tenant block again (270 of 581 tokens), with 1 or 4
slots alike; routed by :class:`SlotRouter`, it computed 9.

A request that says where its cacheable prefix ends (``cache_prefix``: the daemon's part and
the tenant's, :mod:`processors.agent.loop`) carries a :func:`prefix_key`; the router sends it
to the slot that holds that key (every turn of a run, every event of the daemon and tenant),
else to a slot that has served nothing yet, else to the least recently used one. A request
without a key goes to the slot sharing the most leading messages with it when that is more
than the first, else likewise. (Message contents alone cannot tell a tenant's block from the
event's: every tenant's request starts with the same instructions, note and tool calls.)

A slot given a new prefix would start cold and compute its daemon's instructions again (about
800 tokens for vendor-enrichment). So when another slot shares more leading messages with the
request than the chosen one does — the daemon's instructions, its tenant note and calls — the
route says to copy that slot into it first (:attr:`Route.copy_from`; the engine does it with
llama.cpp's slot save and restore), and the new tenant computes only its own records. When no
slot shares a whole message, the one sharing the longest start of the system prompt (at least
:data:`HEAD_CHARS`) is copied: a daemon whose answer schema names the tenant's accounts ends
its system prompt (the format guide) with the tenant's part.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, NamedTuple


def fingerprints(messages: Sequence[Any]) -> tuple[str, ...]:
    """One short hash per message (role and content), in order."""
    return tuple(
        hashlib.sha256(json.dumps(m, sort_keys=True, default=str).encode()).hexdigest()[:16]
        for m in messages
    )


def prefix_key(messages: Sequence[Any]) -> str:
    """The key of a request's cacheable prefix (its leading messages)."""
    return hashlib.sha256("".join(fingerprints(messages)).encode()).hexdigest()[:16]


HEAD_CHARS = 64
"""Leading characters of the system prompt two requests must share before one's slot is
copied for the other when they share no whole message (its tenant's answer schema at the
end of the format guide, the daemon's instructions before it)."""


def _head(messages: Sequence[Any]) -> str:
    first = messages[0] if messages else None
    content = first.get("content") if isinstance(first, dict) else None
    return content if isinstance(content, str) else ""


def _common(a: Sequence[str], b: Sequence[str]) -> int:
    """How many leading items (messages' fingerprints, or characters) ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Route(NamedTuple):
    """Where a request runs: ``slot``; ``copy_from`` another slot whose cache the engine
    copies into ``slot`` before (it shares more of the request's leading messages)."""

    slot: int
    copy_from: int | None = None


class SlotRouter:
    """Picks a slot per request and remembers what each slot holds (not thread-safe: the
    engine calls it under its own lock, one request at a time)."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("at least one slot")
        self._held: list[tuple[str, ...] | None] = [None] * slots
        self._heads: list[str] = [""] * slots  # the system prompt each slot holds
        self._keys: list[str | None] = [None] * slots
        self._used = [0] * slots
        self._clock = 0

    @property
    def slots(self) -> int:
        return len(self._held)

    def route(self, messages: Sequence[Any], key: str | None = None) -> Route:
        """The slot for a request with ``messages`` (and its prefix ``key``, if it has one),
        and the slot to copy into it first, if any; the slot now holds them."""
        prints, head = fingerprints(messages), _head(messages)
        shared = [_common(prints, h) if h is not None else 0 for h in self._held]
        # no whole message in common: how much of the system prompt (llama.cpp reuses a
        # slot's cache up to the first token that differs)
        chars = [
            0 if n else _common(head, held) for n, held in zip(shared, self._heads, strict=True)
        ]
        copy_from = None
        if key is not None and key in self._keys:
            best = self._keys.index(key)
        else:
            best = -1
            if key is None:
                best = max(range(self.slots), key=lambda i: (shared[i], self._used[i]))
                best = best if shared[best] > 1 else -1  # only the instructions in common
            if best < 0:
                empty = [i for i, held in enumerate(self._held) if held is None]
                best = empty[0] if empty else min(range(self.slots), key=self._used.__getitem__)
            donor = max(range(self.slots), key=lambda i: (shared[i], chars[i], self._used[i]))
            better = (shared[donor], chars[donor]) > (shared[best], chars[best])
            worth = shared[donor] > 0 or chars[donor] >= HEAD_CHARS
            if donor != best and better and worth:
                copy_from = donor
        self._clock += 1
        self._held[best], self._keys[best], self._used[best] = prints, key, self._clock
        self._heads[best] = head
        return Route(best, copy_from)
