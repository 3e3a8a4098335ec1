"""The memory records: facts about entities and episodes (past decisions), with provenance.

A record's message key on ``memory.facts`` is ``tenant_id:memory_id`` where ``memory_id`` is
``entity_kind:entity_id:attribute:version``. A fact's version is its ``valid_from`` in epoch
milliseconds, so each version of a fact has a key of its own: compaction keeps the last value
*per version*, and an ``as_of`` query still finds a superseded value. An episode's version is
its run id. ``forget`` writes a tombstone (a null value) for every key of a tenant or entity.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EntityKind = Literal["vendor", "client", "account", "question"]
MemoryKind = Literal["fact", "episode"]
ENTITY_KINDS: tuple[EntityKind, ...] = ("vendor", "client", "account", "question")
SCHEMA = "processdaemons.memory.MemoryRecord"
TOPIC = "memory.facts"


def to_millis(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are refused: no local time)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: memory times are UTC and must say so")
    return int(moment.timestamp() * 1000)


def from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


@dataclass(frozen=True)
class SourcePosition:
    """Where the result a memory comes from was read: the input event's position for a
    result the guardrails passed, the held result's on ``guardrails.review`` for one a
    reviewer approved."""

    topic: str
    partition: int
    offset: int


class Provenance(BaseModel):
    """Where a memory came from and who let it in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str = Field(min_length=1)
    trace_id: str = ""
    source_topic: str = Field(min_length=1)
    source_partition: int = Field(ge=0)
    source_offset: int = Field(ge=0)
    approved_by: str

    @field_validator("approved_by")
    @classmethod
    def _approver(cls, value: str) -> str:
        if value == "guardrails" or (value.startswith("reviewer:") and len(value) > 9):
            return value
        raise ValueError('approved_by is "guardrails" or "reviewer:<id>"')


class Episode(BaseModel):
    """A past decision: a summary of its input, its published output (JSON) and the verdict."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_summary: str
    output: str
    verdict: str


class MemoryRecord(BaseModel):
    """One memory. Build facts with :meth:`fact` and episodes with :meth:`episode_of`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str = Field(min_length=1)
    principal_id: str = Field(min_length=1)
    occurred_at: datetime
    kind: MemoryKind
    entity_kind: EntityKind
    entity_id: str = Field(min_length=1)
    attribute: str = Field(min_length=1)
    value: str | None = None
    valid_from: datetime
    valid_to: datetime | None = None
    recorded_at: datetime
    episode: Episode | None = None
    provenance: Provenance

    @model_validator(mode="after")
    def _shape(self) -> MemoryRecord:
        for moment in (self.valid_from, self.valid_to, self.recorded_at, self.occurred_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("memory times are UTC and must say so (aware datetimes)")
        if self.kind == "fact" and (self.value is None or self.episode is not None):
            raise ValueError("a fact has a value and no episode")
        if self.kind == "episode" and (self.episode is None or self.value is not None):
            raise ValueError("an episode has an episode and no value")
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError("valid_to must be after valid_from")
        return self

    @property
    def version(self) -> str:
        """What tells this record apart among its entity attribute's records."""
        if self.kind == "fact":
            return str(to_millis(self.valid_from))
        return self.provenance.run_id

    @property
    def memory_id(self) -> str:
        return f"{self.entity_kind}:{self.entity_id}:{self.attribute}:{self.version}"

    @property
    def key(self) -> str:
        """The message key on ``memory.facts`` (the catalog's ``tenant_id:memory_id``)."""
        return f"{self.tenant_id}:{self.memory_id}"

    @property
    def event_id(self) -> str:
        """Deterministic id of the message: the same memory written again has the same id."""
        seed = f"{self.key}|{to_millis(self.recorded_at)}".encode()
        return "mem-" + hashlib.sha256(seed).hexdigest()[:32]

    def text(self) -> str:
        """What is embedded and indexed for keywords. Untrusted in a prompt: fence it."""
        if self.episode is not None:
            return (
                f"{self.entity_kind} {self.entity_id} ({self.attribute}): "
                f"{self.episode.input_summary} -> {self.episode.output}"
            )
        return f"{self.entity_kind} {self.entity_id} {self.attribute}: {self.value}"

    def to_avro(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "tenant_id": self.tenant_id,
            "memory_id": self.memory_id,
            "principal_id": self.principal_id,
            "occurred_at": to_millis(self.occurred_at),
            "kind": self.kind,
            "entity_kind": self.entity_kind,
            "entity_id": self.entity_id,
            "attribute": self.attribute,
            "value": self.value,
            "valid_from": to_millis(self.valid_from),
            "valid_to": None if self.valid_to is None else to_millis(self.valid_to),
            "recorded_at": to_millis(self.recorded_at),
            "episode": None if self.episode is None else self.episode.model_dump(),
            "provenance": self.provenance.model_dump(),
        }

    @classmethod
    def from_avro(cls, datum: dict[str, Any]) -> MemoryRecord:
        """The record decoded from ``memory.facts`` (fastavro gives aware datetimes)."""

        def moment(value: Any) -> datetime | None:
            if value is None or isinstance(value, datetime):
                return value
            return from_millis(int(value))

        body = {k: v for k, v in datum.items() if k not in ("memory_id", "event_id")}
        body["occurred_at"] = moment(datum["occurred_at"])
        body["valid_from"] = moment(datum["valid_from"])
        body["valid_to"] = moment(datum.get("valid_to"))
        body["recorded_at"] = moment(datum["recorded_at"])
        record = cls.model_validate(body)
        if datum.get("memory_id") not in (None, record.memory_id):
            raise ValueError(f"memory_id {datum['memory_id']!r} does not match the record")
        return record

    def canonical(self) -> str:
        """A stable text of the record (sorted keys), for digests."""
        return json.dumps(self.to_avro(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_canonical(cls, canonical: str) -> MemoryRecord:
        """The record of its :meth:`canonical` text (as the stores keep it)."""
        return cls.from_avro(json.loads(canonical))

    @property
    def group(self) -> tuple[str, str, str, str]:
        """The versions of one fact share it: tenant, entity kind, entity id, attribute."""
        return (self.tenant_id, self.entity_kind, self.entity_id, self.attribute)
