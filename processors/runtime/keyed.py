"""Per-key ordering: at most one event per key runs at a time, in offset order.

Events arrive in offset order per partition; a key lives in one partition, so a FIFO queue per
key keeps offset order. Different keys (even of one partition) run concurrently.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class KeyedQueues(Generic[T]):
    def __init__(self) -> None:
        self._queues: dict[Hashable, deque[T]] = {}
        self._busy: set[Hashable] = set()

    def offer(self, key: Hashable, item: T) -> T | None:
        """Queue ``item``; return it if it may start now (its key is idle)."""
        if key in self._busy:
            self._queues.setdefault(key, deque()).append(item)
            return None
        self._busy.add(key)
        return item

    def done(self, key: Hashable) -> T | None:
        """The key's current item finished: return the next one for that key, if any."""
        queue = self._queues.get(key)
        if queue:
            item = queue.popleft()
            if not queue:
                del self._queues[key]
            return item
        self._busy.discard(key)
        return None

    def drop(self, keys: set[Hashable]) -> None:
        """Forget ``keys`` entirely (their partition was revoked)."""
        for key in keys:
            self._queues.pop(key, None)
            self._busy.discard(key)

    def active_keys(self) -> set[Hashable]:
        """Keys with an item running or waiting."""
        return set(self._busy)

    @property
    def waiting(self) -> int:
        return sum(len(q) for q in self._queues.values())
