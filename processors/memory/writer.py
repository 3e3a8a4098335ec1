"""Memory is written by code, never by a model: from results the guardrails passed or a
person approved, and never from a run whose inputs or tool results were flagged.

:func:`approval` decides who let a result in (``"guardrails"`` or ``"reviewer:<id>"``) from
the run's published guardrail outcome and, for a held result, the reviewer's feedback, or
raises :class:`~processors.errors.MemoryWriteRefused`. :class:`MemoryWriter` produces records
(and, for ``forget``, tombstones) to ``memory.facts``. What a daemon's result means as memory
is the daemon's own mapping (e.g. ``processors.daemons.vendor_enrichment.remember``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import KafkaError, Producer

from processors.errors import DaemonsError, MemoryWriteRefused
from processors.kafka.clients import Contracts
from processors.memory.records import SCHEMA, TOPIC, MemoryRecord

INJECTION_CHECK = "prompt_injection"


def approval(outcome: Mapping[str, Any], feedback: Mapping[str, Any] | None = None) -> str:
    """Who approved the run's result for memory, from its ``guardrails.outcomes`` record and
    an optional ``daemons.feedback`` record. Refuses (raises) when anything was flagged as
    instruction-like, even when a reviewer approved: memory outlives the review, and a
    poisoned memory would be replayed into every later prompt."""
    run_id = outcome.get("run_id", "")
    checks = list(outcome.get("checks") or [])
    if any(c.get("name") == INJECTION_CHECK and not c.get("passed") for c in checks):
        raise MemoryWriteRefused(
            f"run {run_id}: instruction-like content was flagged", reason="flagged"
        )
    if feedback is not None:
        if feedback.get("run_id") != run_id or feedback.get("tenant_id") != outcome.get(
            "tenant_id"
        ):
            raise MemoryWriteRefused(
                f"run {run_id}: the feedback is about another run or tenant", reason="mismatch"
            )
        if feedback.get("decision") == "approve" and feedback.get("principal_id"):
            return f"reviewer:{feedback['principal_id']}"
        raise MemoryWriteRefused(f"run {run_id}: the reviewer did not approve", reason="rejected")
    if outcome.get("verdict") == "pass" and all(c.get("passed") for c in checks):
        return "guardrails"
    raise MemoryWriteRefused(
        f"run {run_id}: verdict {outcome.get('verdict')!r}, not passed", reason="not_passed"
    )


class MemoryWriter:
    """Produces memories and tombstones to ``memory.facts`` and waits for the broker."""

    def __init__(self, producer: Producer, contracts: Contracts, *, timeout: float = 30.0) -> None:
        self._producer = producer
        self._contracts = contracts
        self._topic = contracts.catalog.physical(TOPIC)
        self._timeout = timeout

    def write(self, records: Sequence[MemoryRecord]) -> int:
        messages = [
            (
                record.key.encode(),
                self._contracts.codec.encode(SCHEMA, record.to_avro(), topic=self._topic),
            )
            for record in records
        ]
        return self._send(messages)

    def forget(self, keys: Sequence[str]) -> int:
        """A tombstone per key: compaction then drops every value of it from the topic."""
        return self._send([(key.encode(), None) for key in keys])

    def _send(self, messages: Sequence[tuple[bytes, bytes | None]]) -> int:
        errors: list[str] = []

        def on_delivery(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                errors.append(str(err))

        for key, value in messages:
            self._producer.produce(self._topic, key=key, value=value, on_delivery=on_delivery)
            self._producer.poll(0)
        remaining = self._producer.flush(self._timeout)
        if remaining or errors:
            detail = "; ".join(errors[:3])
            raise DaemonsError(
                f"{self._topic}: {remaining + len(errors)} of {len(messages)} memory message(s) "
                f"not delivered {detail}".rstrip()
            )
        return len(messages)
