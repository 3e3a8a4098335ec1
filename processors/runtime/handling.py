"""One consumed event through the daemon's handler under the one error policy.

Decode the value, call the handler, encode its outputs — or, when
:func:`~processors.runtime.policy.decide` says so (at once for permanent errors, after the
attempt limit for transient ones), the dead letter with its error headers. Retries wait with
the policy's backoff inside the event's own task, so other keys keep flowing. Kafka-free: the
:class:`~processors.runtime.runner.Runner` hands in what it consumed and produces the records
that come back (in order, with the event's span as their parent).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Span

from processors.context import CallContext
from processors.errors import SchemaValidationError, SerdeError, Unproducible
from processors.kafka.clients import Contracts
from processors.runtime.daemon import (
    Daemon,
    EventContext,
    HandlerFailed,
    Output,
    output_id,
    plain_result,
    waits,
)
from processors.runtime.deadletter import Failure, Original, envelope, error_headers
from processors.runtime.metrics import RuntimeMetrics
from processors.runtime.policy import DeadLetter, RetryLater, decide

log = logging.getLogger("processors.runtime")
TP = tuple[str, int]
Record = tuple[str, bytes | None, bytes, list[tuple[str, Any]]]
"""(physical topic, key, value bytes, headers): one record to produce."""


@dataclass
class InFlight:
    """One consumed message on its way through the daemon."""

    tp: TP  # physical topic, partition
    epoch: int  # the partition's ownership epoch when it was consumed
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    span: Span  # the CONSUMER span: the handler's work and the outputs' context nest under it
    started: float
    records: list[Record] = field(default_factory=list)
    unacked: int = 0
    traced: list[tuple[str, Any]] | None = None  # the span's context as headers, made once


def _required(decoded: dict[str, Any], field: str) -> str:
    """Who the event is for: never a silent "" (a tool would be called for no tenant)."""
    value = decoded.get(field)
    if not isinstance(value, str) or not value.strip():
        raise SchemaValidationError(f"event has no {field}: {value!r}", field=field)
    return value


BARE = ("dlq.bare", b"true")
"""The header that marks a bare dead letter (:meth:`Handling.bare_dead_letter`)."""


def record_size(record: Record) -> int:
    """Bytes of a record as the producer counts them, near enough: key, value, headers."""
    _topic, key, value, headers = record
    return len(key or b"") + len(value) + sum(len(k) + len(v or b"") for k, v in headers)


class Handling:
    """Turns an :class:`InFlight` event into the records to produce: outputs or dead letter."""

    def __init__(
        self, daemon: Daemon, contracts: Contracts, metrics: RuntimeMetrics, dlq: str
    ) -> None:
        self.daemon, self.contracts, self.metrics, self._dlq = daemon, contracts, metrics, dlq
        self.waits = waits(daemon.handler)  # a plain handler runs inline (Runner._launch)

    async def records(self, event: InFlight, logical: str) -> list[Record]:
        """Decode, call the handler under the error policy, encode. Always returns records:
        the outputs, or the dead letter (with any records the error carries, e.g. the run
        record of a failed agent run)."""
        first_failure: dt.datetime | None = None
        decoded: dict[str, Any] | None = None
        attempt = 1
        while True:
            try:
                if decoded is None:
                    spec = self.contracts.catalog.get(logical)
                    decoded = self.contracts.codec.decode(event.value, spec.value_schema)
                call = CallContext(
                    tenant_id=_required(decoded, "tenant_id"),
                    principal_id=_required(decoded, "principal_id"),
                    event_id=str(decoded.get("event_id", "")),
                )
                ctx = EventContext(
                    daemon=self.daemon.name, call=call, topic=logical,
                    partition=event.tp[1], offset=event.offset, key=event.key, attempt=attempt,
                    span=event.span,
                )  # fmt: skip
                result = self.daemon.handler(decoded, ctx)
                outputs = (
                    await result  # type: ignore[misc]
                    if self.waits
                    else plain_result(self.daemon.handler, result)
                )
                return [self.encode(ctx.event_id, i, o) for i, o in enumerate(outputs)]
            except asyncio.CancelledError:
                raise
            except Exception as raised:  # noqa: BLE001 - the one error policy decides, below
                # a handler's failure may carry records to publish with its dead letter
                failed = raised if isinstance(raised, HandlerFailed) else None
                exc = failed.cause if failed is not None else raised
                now = dt.datetime.now(dt.UTC)
                first_failure = first_failure or now
                decision = decide(exc, attempt, self.daemon.retry)
                event.span.add_event(
                    "failure", {"error.type": type(exc).__name__, "attempt": attempt}
                )
                if isinstance(decision, RetryLater):
                    self.metrics.retried(event.tp[0], type(exc).__name__)
                    log.info(
                        "retrying %s@%s in %.2fs: %s", event.tp, event.offset, decision.delay, exc
                    )
                    await asyncio.sleep(decision.delay)
                    attempt += 1
                    continue
                assert isinstance(decision, DeadLetter)
                failure = Failure(exc, attempt, first_failure, now)
                letter = self.dead_letter(event, decoded, failure, decision.reason)
                extra = failed.outputs if failed is not None else ()
                event_id = str((decoded or {}).get("event_id", ""))
                return [letter, *(self.encode(event_id, i, o) for i, o in enumerate(extra))]

    def unproducible(self, event: InFlight, logical: str, record: Record, why: str) -> Record:
        """The dead letter that replaces ``record`` of ``event`` when the broker will not
        take it (:class:`~processors.errors.Unproducible`: never retried)."""
        now = dt.datetime.now(dt.UTC)
        error = Unproducible(f"an output to {record[0]} could not be produced: {why}")
        try:  # the letter carries the event's ids when it decodes (it did, to get here)
            spec = self.contracts.catalog.get(logical)
            decoded = self.contracts.codec.decode(event.value, spec.value_schema)
        except SerdeError:
            decoded = None
        return self.dead_letter(event, decoded, Failure(error, 1, now, now), "unproducible")

    def fit(self, event: InFlight, logical: str, records: list[Record], limit: int) -> list[Record]:
        """``records`` with any record over ``limit`` bytes (the producer's
        ``message.max.bytes``) replaced by a dead letter saying so: produce() would refuse
        it, and the same event would stop the daemon again after every restart."""
        fitted: list[Record] = []
        for record in records:
            size = record_size(record)
            if size > limit and record[0] != self._dlq:
                record = self.unproducible(event, logical, record, f"{size} bytes > {limit}")
            fitted.append(record)
        return fitted

    def encode(self, event_id: str, index: int, output: Output) -> Record:
        """An output as a record: its deterministic output id (per event, topic and index)
        in the value when the handler left it empty, and the ``event_id``, ``output_id`` and
        ``daemon`` headers downstream deduplicates by."""
        spec = self.contracts.catalog.get(output.topic)
        physical = self.contracts.catalog.physical(output.topic)
        oid = output_id(event_id, output.topic, index)
        value = dict(output.value)
        if value.get("output_id") == "":
            value["output_id"] = oid
        key = output.key if output.key is not None else spec.key_for(value)
        data = self.contracts.codec.encode(spec.value_schema, value, topic=physical)
        headers: list[tuple[str, Any]] = [
            *output.headers, ("event_id", event_id.encode()), ("output_id", oid.encode()),
            ("daemon", self.daemon.name.encode()),
        ]  # fmt: skip
        return physical, key, data, headers

    def bare_dead_letter(self, event: InFlight, why: str) -> Record:
        """The last resort when a dead letter itself was refused (a dead-letter topic with a
        smaller size limit, say): the source coordinates, the error and the original's size
        and hash, without the original's key, value or headers — those stay at the source
        offset. Never the reason a daemon stops."""
        now = dt.datetime.now(dt.UTC)
        failure = Failure(
            Unproducible(f"the dead letter could not be produced: {why}"), 1, now, now
        )
        stripped = InFlight(
            event.tp, event.epoch, event.offset, None, None, [], event.span, event.started
        )
        topic, _key, data, headers = self.dead_letter(stripped, None, failure, "unproducible")
        headers.append(BARE)
        if event.value is not None:
            headers += [
                ("dlq.original.truncated", b"true"),
                ("dlq.original.size", str(len(event.value)).encode()),
                ("dlq.original.sha256", hashlib.sha256(event.value).hexdigest().encode()),
            ]
        return topic, None, data, headers

    def dead_letter(
        self, event: InFlight, decoded: dict[str, Any] | None, failure: Failure, reason: str
    ) -> Record:
        """The dead letter: the original key, value and headers plus the error headers."""
        log.warning(
            "dead-lettering %s[%s]@%s after %d attempt(s): %s: %s", event.tp[0], event.tp[1],
            event.offset, failure.attempts, failure.error_type, failure.message,
        )  # fmt: skip
        event.span.set_attribute("error.type", failure.error_type)
        original = Original.bounded(event.key, event.value, event.headers)
        datum = envelope(
            daemon=self.daemon.name, topic=event.tp[0], partition=event.tp[1],
            offset=event.offset, key=original.key, value=original.value,
            headers=original.headers, decoded=decoded, failure=failure,
        )  # fmt: skip
        data = self.contracts.codec.encode(
            "processdaemons.system.DeadLetter", datum, topic=self._dlq
        )
        headers: list[tuple[str, Any]] = [*original.headers]
        headers += error_headers(self.daemon.name, event.tp[0], event.tp[1], event.offset, failure)
        headers.append(("dlq.reason", reason.encode()))
        headers += original.notes
        self.metrics.dead_lettered(event.tp[0], failure.error_type)
        if self.daemon.on_dead_letter is not None:
            self.daemon.on_dead_letter(datum, failure.error)
        return self._dlq, original.key, data, headers
