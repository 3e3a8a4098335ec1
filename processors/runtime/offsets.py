"""Per-partition commit watermarks, and the finished offsets beyond them.

Events of one partition finish out of order (different keys run concurrently). The offset
we may commit is the lowest offset not yet finished: everything below it is done, so a crash
redelivers only unfinished (or not yet committed) work — never skips any.

Everything redelivered above the watermark would be run again, though, and one slow event
holds the watermark back while hundreds behind it finish: every re-run is a paid LLM call. So
the commit also carries the offsets already finished beyond the watermark, in the offset
commit's metadata (Confluent's Parallel Consumer does the same), and the next owner of the
partition skips them (:meth:`PartitionOffsets.skips`). The encoding (:func:`encode_finished`)
is bounded by the broker's ``offset.metadata.max.bytes`` (4,096 by default): what does not fit
is left out, which only means those events are run again — never that one is skipped.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Iterable

log = logging.getLogger("processors.runtime")
METADATA_VERSION = "pd1"
MAX_METADATA_CHARS = 3_900
"""Below the broker's default ``offset.metadata.max.bytes`` (4,096)."""


def encode_finished(mark: int, finished: Iterable[int], limit: int = MAX_METADATA_CHARS) -> str:
    """Offsets finished beyond ``mark`` as ranges of distances from it, ``pd1:2-4,7``; the
    ranges that do not fit in ``limit`` characters are left out (the nearest are kept)."""
    offsets = sorted(o - mark for o in set(finished) if o > mark)
    parts: list[str] = []
    size = len(METADATA_VERSION) + 1
    i = 0
    while i < len(offsets):
        j = i
        while j + 1 < len(offsets) and offsets[j + 1] == offsets[j] + 1:
            j += 1
        part = str(offsets[i]) if i == j else f"{offsets[i]}-{offsets[j]}"
        if size + len(part) + (1 if parts else 0) > limit:
            break
        size += len(part) + (1 if parts else 0)
        parts.append(part)
        i = j + 1
    return f"{METADATA_VERSION}:{','.join(parts)}" if parts else ""


def decode_finished(mark: int, metadata: str | None) -> set[int]:
    """The offsets :func:`encode_finished` wrote; an empty set for no metadata, and for
    metadata it cannot read (another tool's, a future version's): then nothing is skipped."""
    if not metadata:
        return set()
    version, _, body = metadata.partition(":")
    found: set[int] = set()
    try:
        if version != METADATA_VERSION:
            raise ValueError(f"unknown version {version!r}")
        for part in body.split(","):
            low, _, high = part.partition("-")
            first, last = int(low), int(high or low)
            if first < 1 or last < first:
                raise ValueError(f"bad range {part!r}")
            found.update(range(mark + first, mark + last + 1))
    except ValueError as exc:
        log.warning("offset metadata not ours or unreadable (%s): nothing skipped", exc)
        return set()
    return found


class PartitionOffsets:
    """Tracks started and finished offsets of one partition. ``finished_before`` are offsets
    a previous owner finished beyond ``start`` (from the commit metadata): skipped once."""

    def __init__(self, start: int, finished_before: Iterable[int] = ()) -> None:
        self._committed = start  # what the group has committed (next offset to read)
        self._committed_beyond: tuple[int, ...] = ()
        self._next = start  # one past the highest offset started
        self._pending: set[int] = set()
        self._heap: list[int] = []
        self._done: set[int] = set()  # finished, at or above the watermark when last pruned
        self._skip = {o for o in finished_before if o >= start}

    def skips(self, offset: int) -> bool:
        """Whether ``offset`` was finished by a previous owner: if so it counts as started
        and finished now, and the caller must not run it again."""
        if offset not in self._skip:
            return False
        self._skip.discard(offset)
        self.started(offset)
        self.finished(offset)
        return True

    def started(self, offset: int) -> None:
        self._pending.add(offset)
        heapq.heappush(self._heap, offset)
        self._next = max(self._next, offset + 1)

    def finished(self, offset: int) -> None:
        self._pending.discard(offset)
        self._done.add(offset)

    def watermark(self) -> int:
        """The offset to commit: every offset below it is finished."""
        while self._heap and self._heap[0] not in self._pending:
            heapq.heappop(self._heap)
        mark = self._heap[0] if self._heap else self._next
        if self._done and min(self._done) < mark:
            self._done = {o for o in self._done if o >= mark}
        return mark

    def finished_beyond(self) -> tuple[int, ...]:
        """Offsets finished above the watermark (their events must not run again)."""
        mark = self.watermark()
        return tuple(sorted(o for o in self._done if o > mark))

    def committable(self) -> int | None:
        """The watermark if it moved since the last commit, else None."""
        mark = self.watermark()
        return mark if mark > self._committed else None

    def commit_point(self) -> tuple[int, tuple[int, ...]] | None:
        """The watermark and the finished offsets beyond it, if either changed since the
        last confirmed commit, else None (a slow event holding the watermark back does not
        keep what finished behind it from being recorded)."""
        mark, beyond = self.watermark(), self.finished_beyond()
        if mark < self._committed or (mark, beyond) == (self._committed, self._committed_beyond):
            return None
        if mark == self._committed and not beyond:
            return None
        return mark, beyond

    def mark_committed(self, offset: int, beyond: Iterable[int] = ()) -> None:
        if offset > self._committed:
            self._committed, self._committed_beyond = offset, tuple(beyond)
        elif offset == self._committed:
            self._committed_beyond = tuple(beyond)

    @property
    def in_flight(self) -> int:
        return len(self._pending)
