"""Where the console reads held results and their stories, and decides them: one port.

:class:`ReviewSource` is what the web app needs; :class:`KafkaReviewSource` is it over the
topics — the review queue (``guardrails.review`` + ``daemons.feedback``), a decision's story
(``daemons.runs``, ``guardrails.outcomes`` and the daemon's input topic, read together) and
:func:`processors.daemons.review.decide` (the one exactly-once publish path, teaching memory
what an approval or a correction teaches). Every read is a
snapshot to the topics' current end: a page shows what is committed when it is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from processors.daemons import registry
from processors.daemons.review import decide
from processors.errors import ConfigError
from processors.guardrails.corrections import ENVELOPE
from processors.guardrails.review import Choice, Held, Outcome, review_queue
from processors.kafka.clients import Contracts
from processors.kafka.snapshot import read_to_end
from processors.serde.json_codec import to_json
from processors.settings import Settings

RUNS_TOPIC, OUTCOMES_TOPIC = "daemons.runs", "guardrails.outcomes"


@dataclass(frozen=True)
class Story:
    """What a held result's run left on the other topics (JSON form; None: not found)."""

    held: Held
    run: dict[str, Any] | None
    outcome: dict[str, Any] | None
    input: dict[str, Any] | None
    input_topic: str | None


class ReviewSource(Protocol):
    def queue(self) -> list[Held]:
        """Every held result (latest per output id, oldest first) with its decision."""
        ...

    def story(self, held: Held) -> Story: ...

    def output_schema(self, held: Held) -> Any:
        """The parsed Avro schema of the held result's target topic."""
        ...

    def output_type(self, daemon: str) -> type[BaseModel] | None:
        """The daemon's output model, when the daemon is registered here."""
        ...

    def locked(self, held: Held) -> frozenset[str]:
        """The output's fields no correction may change: the envelope and the target topic's
        key fields."""
        ...

    def decide(
        self,
        run_id: str,
        decision: Choice,
        *,
        reviewer: str,
        comment: str | None = None,
        corrected: Mapping[str, Any] | None = None,
    ) -> Outcome: ...


class KafkaReviewSource:
    def __init__(self, settings: Settings, contracts: Contracts, timeout: float = 30.0) -> None:
        self._settings = settings
        self._contracts = contracts
        self._timeout = timeout

    def queue(self) -> list[Held]:
        return review_queue(self._settings, self._contracts)

    def story(self, held: Held) -> Story:
        input_topic = _input_topic(str(held.record["daemon"]))
        logical = [RUNS_TOPIC, OUTCOMES_TOPIC, *([input_topic] if input_topic else [])]
        physical = {self._contracts.catalog.physical(t): t for t in logical}
        messages = read_to_end(
            self._settings, list(physical), purpose="console", timeout=self._timeout,
            missing_ok=True,
        )  # fmt: skip
        tenant = held.record["tenant_id"]
        found: dict[str, dict[str, Any]] = {}
        for msg in messages:
            topic = physical[msg.topic() or ""]
            value = to_json(self._contracts.codec.decode(msg.value()))
            if not isinstance(value, dict) or value.get("tenant_id") != tenant:
                continue  # another tenant's record is never shown, whatever its ids say
            if topic == input_topic:
                if value.get("event_id") == held.record["event_id"]:
                    found.setdefault("input", value)
            elif value.get("run_id") == held.run_id:
                found[topic] = value  # the last one written, as the review queue does
        return Story(
            held=held,
            run=found.get(RUNS_TOPIC),
            outcome=found.get(OUTCOMES_TOPIC),
            input=found.get("input"),
            input_topic=input_topic,
        )

    def output_schema(self, held: Held) -> Any:
        spec = self._contracts.catalog.get(str(held.record["target_topic"]))
        return self._contracts.schemas.get(spec.value_schema).parsed

    def locked(self, held: Held) -> frozenset[str]:
        spec = self._contracts.catalog.get(str(held.record["target_topic"]))
        return ENVELOPE | frozenset(spec.key)

    def output_type(self, daemon: str) -> type[BaseModel] | None:
        try:
            return registry.use_case(daemon).output_type
        except ConfigError:
            return None  # a daemon given as module:attribute: its model is unknown here

    def decide(
        self,
        run_id: str,
        decision: Choice,
        *,
        reviewer: str,
        comment: str | None = None,
        corrected: Mapping[str, Any] | None = None,
    ) -> Outcome:
        return decide(
            self._settings, self._contracts, run_id, decision,
            reviewer=reviewer, comment=comment, corrected=corrected, timeout=self._timeout,
        )  # fmt: skip


def _input_topic(daemon: str) -> str | None:
    try:
        return registry.use_case(daemon).input_topic
    except ConfigError:
        return None
