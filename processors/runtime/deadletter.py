"""Dead letters: the original message kept byte for byte, plus why we gave up.

Byte for byte up to a bound: a dead letter carries the original value *and* its envelope and
headers, so an input near the topic's size limit would make a dead letter over it — and a
dead letter that cannot be produced would stop the daemon at the same event on every
restart. An original larger than :data:`MAX_ORIGINAL_BYTES` is kept as its first that many
bytes, with its full size and SHA-256 in the ``dlq.original.*`` headers (the whole value is
still in the source topic, at the offset the letter names, for as long as it retains it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

MAX_ORIGINAL_BYTES = 256 * 1024
"""Of an original value or key, at most this much goes into its dead letter; with the
envelope and headers that stays well under Kafka's default 1 MB message limit."""
MAX_ORIGINAL_HEADER_BYTES = 16 * 1024
"""Original headers are kept while they add up to at most this much; the rest are dropped
(and counted in ``dlq.original.headers_dropped``)."""

ERROR_HEADERS = (
    "dlq.error.type", "dlq.error.message", "dlq.attempts", "dlq.source.topic",
    "dlq.source.partition", "dlq.source.offset", "dlq.daemon", "dlq.first_failure",
    "dlq.last_failure",
)  # fmt: skip


@dataclass(frozen=True)
class Failure:
    error: BaseException
    attempts: int
    first_at: dt.datetime
    last_at: dt.datetime

    @property
    def error_type(self) -> str:
        return type(self.error).__name__

    @property
    def message(self) -> str:
        return str(self.error)[:2000] or self.error_type


def envelope(
    *,
    daemon: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes | None]],
    decoded: dict[str, Any] | None,
    failure: Failure,
) -> dict[str, Any]:
    """A ``DeadLetter`` datum. Ids come from the decoded event when there is one."""
    decoded = decoded or {}
    return {
        "event_id": str(decoded.get("event_id") or f"{topic}-{partition}-{offset}"),
        "tenant_id": str(decoded.get("tenant_id") or "unknown"),
        "principal_id": str(decoded.get("principal_id") or "unknown"),
        "occurred_at": failure.last_at,
        "daemon": daemon,
        "source_topic": topic,
        "source_partition": partition,
        "source_offset": offset,
        "original_key": key,
        "original_value": value,
        "original_headers": [{"key": k, "value": v} for k, v in headers],
        "error_type": failure.error_type,
        "error_message": failure.message,
        "attempts": failure.attempts,
        "first_failure_at": failure.first_at,
        "last_failure_at": failure.last_at,
    }


@dataclass(frozen=True)
class Original:
    """What of the original message goes into its dead letter, and what was cut."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    notes: list[tuple[str, bytes]]  # the dlq.original.* headers: empty when nothing was cut

    @classmethod
    def bounded(
        cls, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes | None]]
    ) -> Original:
        notes: list[tuple[str, bytes]] = []
        if value is not None and len(value) > MAX_ORIGINAL_BYTES:
            notes += [
                ("dlq.original.truncated", b"true"),
                ("dlq.original.size", str(len(value)).encode()),
                ("dlq.original.sha256", hashlib.sha256(value).hexdigest().encode()),
            ]
            value = value[:MAX_ORIGINAL_BYTES]
        if key is not None and len(key) > MAX_ORIGINAL_BYTES:
            notes.append(("dlq.original.key_size", str(len(key)).encode()))
            key = key[:MAX_ORIGINAL_BYTES]
        kept: list[tuple[str, bytes | None]] = []
        room = MAX_ORIGINAL_HEADER_BYTES
        for name, data in headers:
            size = len(name) + len(data or b"")
            if size <= room:
                kept.append((name, data))
                room -= size
        if len(kept) < len(headers):
            notes.append(("dlq.original.headers_dropped", str(len(headers) - len(kept)).encode()))
        return cls(key, value, kept, notes)


def error_headers(
    daemon: str, topic: str, partition: int, offset: int, failure: Failure
) -> list[tuple[str, bytes]]:
    values = (
        failure.error_type, failure.message, str(failure.attempts), topic, str(partition),
        str(offset), daemon, failure.first_at.isoformat(), failure.last_at.isoformat(),
    )  # fmt: skip
    return [(k, v.encode()) for k, v in zip(ERROR_HEADERS, values, strict=True)]
