"""The review queue: results held by the guardrails, and a person's approve / reject.

Held results live on ``guardrails.review`` (``HeldResult`` records); decisions are
``Feedback`` records (``approve`` / ``reject`` / ``correct``) on ``daemons.feedback``. A held
result is *pending* until a decision names its run — nothing is deleted, so nothing is lost.
Results are identified by their deterministic ``output_id``: if an event was processed twice
(at-least-once redelivery) and held twice, one decision settles both.

:func:`decide` makes a decision exactly once, even with two reviewers at the same time or a
crash half-way: it takes the transactional id ``daemons-review-<output_id>`` (which fences any
other process deciding the same result and completes or aborts its open transaction), re-reads
the decisions, and only if the result is still pending produces — in one transaction — the
approved output to its target topic (with the output id it would have had if it had passed),
what the approval teaches (``memory.facts``, from the caller's ``learn``: the use case's
``remember``, see :func:`processors.daemons.review.decide`) and the decision record. Either all
are visible or none. A rejection writes no memory. A correction is an approval of the
corrected output: the same path publishes (and teaches) the corrected datum instead of the
held one, and the feedback (``correct``) carries it as ``corrected_output_json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import KafkaException, Producer

from processors.errors import DaemonsError, MemoryWriteRefused, SchemaValidationError
from processors.guardrails.corrections import ENVELOPE
from processors.guardrails.routing import REVIEW_TOPIC
from processors.guardrails.screen import screen_memories
from processors.kafka.clients import Contracts, producer_config
from processors.kafka.snapshot import read_to_end
from processors.memory.records import TOPIC as MEMORY_TOPIC
from processors.memory.records import MemoryRecord, SourcePosition
from processors.serde.json_codec import from_json, to_json
from processors.settings import Settings

FEEDBACK_TOPIC = "daemons.feedback"
Choice = Literal["approve", "reject", "correct"]
PAST: dict[str, str] = {"approve": "approved", "reject": "rejected", "correct": "corrected"}


class ReviewError(DaemonsError):
    """A review command cannot do what was asked (unknown run, already decided otherwise)."""


@dataclass(frozen=True)
class Held:
    """One held result, with the decision taken on it (None: pending) and where it is on
    ``guardrails.review`` (the source of what its approval teaches)."""

    record: dict[str, Any]
    decision: dict[str, Any] | None = None
    source: SourcePosition | None = None

    @property
    def run_id(self) -> str:
        return str(self.record["run_id"])

    @property
    def output_id(self) -> str:
        return str(self.record["output_id"])

    @property
    def output(self) -> dict[str, Any]:
        return dict(json.loads(self.record["output_json"]))


@dataclass(frozen=True)
class Outcome:
    held: Held
    decision: Choice
    published: bool  # False: the result was already decided, nothing was written
    remembered: tuple[MemoryRecord, ...] = ()  # written with the approval
    not_remembered: str | None = None  # why an approval taught nothing (None: it did)


Learn = Callable[[Held, Mapping[str, Any], Mapping[str, Any]], Sequence[MemoryRecord]]
"""(the held result being approved, its output datum as it is published, the reviewer's
feedback record) -> the memories the approval teaches; raises
:class:`~processors.errors.MemoryWriteRefused` when it may teach none (flagged, no outcome
of its run...)."""


def review_queue(settings: Settings, contracts: Contracts) -> list[Held]:
    """Every held result (latest per output id, oldest first) with its decision, if any."""
    positioned = read_positioned(settings, contracts, REVIEW_TOPIC)
    held = [record for record, _ in positioned]
    decisions = [
        f for f in read_all(settings, contracts, FEEDBACK_TOPIC)
        if f["decision"] in ("approve", "reject", "correct")
    ]  # fmt: skip
    output_of = {str(h["run_id"]): str(h["output_id"]) for h in held}
    decided: dict[str, dict[str, Any]] = {}
    for feedback in decisions:
        output = output_of.get(str(feedback["run_id"]))
        if output is not None:
            decided.setdefault(output, feedback)  # the first decision is the decision
    latest: dict[str, tuple[dict[str, Any], SourcePosition]] = {}
    for record, source in positioned:
        latest[str(record["output_id"])] = (record, source)
    ordered = sorted(latest.items(), key=lambda item: item[1][0]["occurred_at"])
    return [Held(r, decided.get(o), source) for o, (r, source) in ordered]


def pending(settings: Settings, contracts: Contracts) -> list[Held]:
    return [h for h in review_queue(settings, contracts) if h.decision is None]


def find(settings: Settings, contracts: Contracts, run_id: str) -> Held:
    """The held result of ``run_id`` (or of another run with the same output id)."""
    queue = review_queue(settings, contracts)
    for item in queue:
        if item.run_id == run_id:
            return item
    runs = {
        str(h["run_id"]): str(h["output_id"]) for h in read_all(settings, contracts, REVIEW_TOPIC)
    }
    if run_id in runs:
        return next(h for h in queue if h.output_id == runs[run_id])
    raise ReviewError(f"no held result for run {run_id!r} on {REVIEW_TOPIC}")


def decide(
    settings: Settings,
    contracts: Contracts,
    run_id: str,
    decision: Choice,
    *,
    reviewer: str,
    learn: Learn | None,
    comment: str | None = None,
    corrected: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
) -> Outcome:
    """Approve (publish once, with what ``learn`` says it teaches), reject (record why) or
    correct (publish ``corrected`` once instead, and teach it: the held output with the
    reviewer's changes, a datum of the target topic in JSON form) the held result of
    ``run_id``. ``learn`` is required (``None``: this approval teaches nothing): call
    :func:`processors.daemons.review.decide`, which gives the use case's. A correction that
    does not fit the target topic's schema, or changes the envelope (tenant, ids), is a
    :class:`ReviewError` and nothing is written."""
    if (decision == "correct") != (corrected is not None):
        raise ReviewError("a correction needs the corrected output, and only a correction has one")
    held = find(settings, contracts, run_id)
    if corrected is not None:
        _approved(held, contracts, corrected)  # refuse a bad correction before any transaction
    producer = Producer(
        producer_config(settings, **{"transactional.id": f"daemons-review-{held.output_id}"})
    )
    try:
        producer.init_transactions(timeout)  # fences and settles any other decider of this result
        held = find(settings, contracts, run_id)  # what committed before we took the id
        if held.decision is not None:
            done: Choice = held.decision["decision"]
            if done != decision:
                raise ReviewError(f"run {run_id} was already {PAST[done]}; cannot {decision} it")
            return Outcome(held, decision, published=False)
        approved = None if decision == "reject" else _approved(held, contracts, corrected)
        feedback = _feedback(held, decision, reviewer, comment, approved if corrected else None)
        memories: Sequence[MemoryRecord] = ()
        not_remembered: str | None = None
        if approved is not None:
            memories, not_remembered = _memories(learn, held, approved, feedback)
        producer.begin_transaction()
        if approved is not None:
            _produce(producer, contracts, held.record["target_topic"], approved, _headers(held))
        for memory in memories:
            _produce(producer, contracts, MEMORY_TOPIC, memory.to_avro(), _headers(held))
        _produce(producer, contracts, FEEDBACK_TOPIC, feedback, _headers(held))
        producer.commit_transaction(timeout)
    except KafkaException as exc:
        raise DaemonsError(
            f"deciding run {run_id} failed (nothing was published; try again): {exc}"
        ) from exc
    return Outcome(held, decision, published=True, remembered=tuple(memories),
                   not_remembered=not_remembered)  # fmt: skip


def _memories(
    learn: Learn | None, held: Held, approved: Mapping[str, Any], feedback: Mapping[str, Any]
) -> tuple[Sequence[MemoryRecord], str | None]:
    """What an approval teaches, screened again (every value: an approved attack payload
    never becomes memory), and why it teaches nothing when it does not."""
    if learn is None:
        return (), "no memory mapping was given"
    try:
        memories = list(learn(held, approved, feedback))
        screen_memories(memories)
    except MemoryWriteRefused as refused:
        return (), f"{refused.reason}: {refused}"
    if not memories:
        return (), "its use case remembers nothing of it"
    foreign = [m.key for m in memories if m.tenant_id != held.record["tenant_id"]]
    if foreign:
        raise ReviewError(f"run {held.run_id}: memories of another tenant: {foreign[:3]}")
    return memories, None


def _approved(
    held: Held, contracts: Contracts, corrected: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The datum to publish: the held output, or its correction (same envelope)."""
    spec = contracts.catalog.get(held.record["target_topic"])
    schema = contracts.schemas.get(spec.value_schema).parsed
    output = held.output
    if corrected is not None:
        locked = ENVELOPE | set(spec.key)
        changed = sorted(k for k in locked if k in corrected and corrected[k] != output.get(k))
        if changed:
            raise ReviewError(f"a correction cannot change {', '.join(changed)}")
        output = {**dict(corrected), **{k: output[k] for k in locked if k in output}}
    try:
        value = from_json(schema, output)
    except SchemaValidationError as exc:
        raise ReviewError(f"the correction does not fit {spec.name}: {exc}") from exc
    value["output_id"] = held.output_id
    return dict(value)


def _feedback(
    held: Held,
    decision: Choice,
    reviewer: str,
    comment: str | None,
    corrected: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    ident = hashlib.sha256(f"review\x00{held.output_id}".encode()).hexdigest()[:32]
    return {
        "event_id": ident,
        "tenant_id": held.record["tenant_id"],
        "principal_id": reviewer,
        "occurred_at": dt.datetime.now(dt.UTC),
        "run_id": held.run_id,
        "daemon": held.record["daemon"],
        "decision": decision,
        "comment": comment,
        "corrected_output_json": None
        if corrected is None
        else json.dumps(to_json(dict(corrected)), sort_keys=True),
    }


def _headers(held: Held) -> list[tuple[str, str | bytes | None]]:
    return [
        ("event_id", str(held.record["event_id"]).encode()),
        ("output_id", held.output_id.encode()),
        ("daemon", str(held.record["daemon"]).encode()),
        ("review.run_id", held.run_id.encode()),
    ]


def _produce(
    producer: Producer,
    contracts: Contracts,
    topic: str,
    value: dict[str, Any],
    headers: list[tuple[str, str | bytes | None]],
) -> None:
    spec = contracts.catalog.get(topic)
    physical = contracts.catalog.physical(topic)
    data = contracts.codec.encode(spec.value_schema, value, topic=physical)
    producer.produce(physical, key=spec.key_for(value), value=data, headers=headers)


def read_all(
    settings: Settings, contracts: Contracts, topic: str, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """Every committed record of logical ``topic`` up to its end when called, decoded, in
    (partition, offset) order."""
    return [record for record, _ in read_positioned(settings, contracts, topic, timeout)]


def read_positioned(
    settings: Settings, contracts: Contracts, topic: str, timeout: float = 60.0
) -> list[tuple[dict[str, Any], SourcePosition]]:
    """:func:`read_all`, each record with where it is."""
    physical = contracts.catalog.physical(topic)
    found = []
    for msg in read_to_end(settings, [physical], purpose="review", timeout=timeout):
        partition, offset = msg.partition(), msg.offset()
        if partition is None or offset is None:
            raise DaemonsError(f"{physical}: a record without a position")
        datum = contracts.codec.decode(msg.value())
        found.append((datum, SourcePosition(topic, partition, offset)))
    return found
