"""Per-partition commit watermarks.

Events of one partition finish out of order (different keys run concurrently). The offset
we may commit is the lowest offset not yet finished: everything below it is done, so a crash
redelivers only unfinished (or not yet committed) work — never skips any.
"""

from __future__ import annotations

import heapq


class PartitionOffsets:
    """Tracks started and finished offsets of one partition."""

    def __init__(self, start: int) -> None:
        self._committed = start  # what the group has committed (next offset to read)
        self._next = start  # one past the highest offset started
        self._pending: set[int] = set()
        self._heap: list[int] = []

    def started(self, offset: int) -> None:
        self._pending.add(offset)
        heapq.heappush(self._heap, offset)
        self._next = max(self._next, offset + 1)

    def finished(self, offset: int) -> None:
        self._pending.discard(offset)

    def watermark(self) -> int:
        """The offset to commit: every offset below it is finished."""
        while self._heap and self._heap[0] not in self._pending:
            heapq.heappop(self._heap)
        return self._heap[0] if self._heap else self._next

    def committable(self) -> int | None:
        """The watermark if it moved since the last commit, else None."""
        mark = self.watermark()
        return mark if mark > self._committed else None

    def mark_committed(self, offset: int) -> None:
        self._committed = max(self._committed, offset)

    @property
    def in_flight(self) -> int:
        return len(self._pending)
