"""Dead letters: the original message kept byte for byte, plus why we gave up."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

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


def error_headers(
    daemon: str, topic: str, partition: int, offset: int, failure: Failure
) -> list[tuple[str, bytes]]:
    values = (
        failure.error_type, failure.message, str(failure.attempts), topic, str(partition),
        str(offset), daemon, failure.first_at.isoformat(), failure.last_at.isoformat(),
    )  # fmt: skip
    return [(k, v.encode()) for k, v in zip(ERROR_HEADERS, values, strict=True)]
