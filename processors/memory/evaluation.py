"""A memory eval: labeled questions to a store, scored per category (issue 17, benchmark (c)).

A case file is JSON lines; each case brings the memories it needs (every case's memories go
into one store, so the others' are its distractors) and one question to the store:

    {"id": "chg-bank", "category": "changed_fact", "tenant": "t-ridgeline",
     "memories": [{"entity": "client:c-1", "attribute": "bank", "value": "First Republic",
                   "valid_from": "2025-02-01"},
                  {"entity": "client:c-1", "attribute": "bank", "value": "Chase",
                   "valid_from": "2026-03-15"}],
     "ask": {"facts": "client:c-1"},
     "expect": {"attribute": "bank", "value": "Chase"}}

A memory is a fact (``entity``, ``attribute``, ``value``, ``valid_from``, ``valid_to``) or an
episode (``entity``, ``summary``, ``output``, ``when``), of the case's tenant unless it names
another (``tenant``). The question is ``{"facts": "kind:id", "as_of": T}`` or
``{"search": text, "k": 5, "kinds": [...], "entity_kind": ..., "as_of": T}``, asked as the
case's tenant. What is expected, each part a condition that must hold:

- ``attribute`` + ``value``: the facts hold exactly that one value of the attribute (``value``
  null: none of it);
- ``nothing``: no fact at all; for a search, no hit whose similarity to the question
  (cosine of the embedder's vectors, computed here) reaches the eval's threshold: what is not
  known must not come back as if it were;
- ``memory`` (``kind:id:attribute``) with an optional ``value`` and ``within`` (default 3):
  that memory is among the first ``within`` hits;
- ``absent_values``, ``absent_memories``, ``absent_text``: no returned memory holds one of
  those values, is one of those memories, or contains one of those strings.

Every case also fails when anything of another tenant comes back: a store that leaks fails
every category, not only the cross-tenant probes. :func:`score` is pure: (case, what the store
returned, threshold) -> passed or not and why.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from processors.errors import ConfigError
from processors.memory.port import Embedder, MemoryStore
from processors.memory.records import (
    ENTITY_KINDS,
    EntityKind,
    Episode,
    MemoryKind,
    MemoryRecord,
    Provenance,
)

Category = Literal["changed_fact", "as_of", "not_known", "cross_tenant", "meaning", "keyword"]
CATEGORIES: tuple[Category, ...] = (
    "changed_fact", "as_of", "not_known", "cross_tenant", "meaning", "keyword",
)  # fmt: skip
THRESHOLD = 0.5  # cosine: a hit this close to the question is an answer to it
SOURCE_TOPIC = "memory-eval"


def _moment(value: str) -> datetime:
    """``2025-02-01`` (midnight UTC) or an ISO 8601 time with its offset."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        if "T" in value:
            raise ValueError(f"{value!r}: a time needs its offset (Z or +00:00)")
        moment = moment.replace(tzinfo=UTC)
    return moment


def _entity(value: str) -> tuple[EntityKind, str]:
    kind, _, entity_id = value.partition(":")
    if kind not in ENTITY_KINDS or not entity_id:
        raise ValueError(f"{value!r}: an entity is kind:id, kind one of {', '.join(ENTITY_KINDS)}")
    return kind, entity_id


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MemorySpec(_Strict):
    """One memory of a case: a fact (``value``, ``valid_from``) or an episode (``summary``,
    ``output``, ``when``)."""

    entity: str
    tenant: str | None = None
    attribute: str | None = None
    value: str | None = None
    valid_from: str | None = None
    valid_to: str | None = None
    summary: str | None = None
    output: str | None = None
    when: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> MemorySpec:
        _entity(self.entity)
        fact = self.value is not None
        episode = self.summary is not None
        if fact == episode:
            raise ValueError("a memory has a value (a fact) or a summary (an episode)")
        if fact and (self.attribute is None or self.valid_from is None):
            raise ValueError("a fact needs attribute, value and valid_from")
        if episode and (self.output is None or self.when is None):
            raise ValueError("an episode needs summary, output and when")
        for moment in (self.valid_from, self.valid_to, self.when):
            if moment is not None:
                _moment(moment)
        return self


class Ask(_Strict):
    """The question: the facts of an entity, or a search."""

    facts: str | None = None
    search: str | None = None
    k: int = Field(default=5, ge=1, le=20)
    kinds: list[MemoryKind] | None = None
    entity_kind: EntityKind | None = None
    as_of: str | None = None

    @model_validator(mode="after")
    def _shape(self) -> Ask:
        if (self.facts is None) == (self.search is None):
            raise ValueError("ask is either facts (an entity) or search (a text)")
        if self.facts is not None:
            _entity(self.facts)
        if self.as_of is not None:
            _moment(self.as_of)
        return self


class Expect(_Strict):
    """What a right answer is (every condition given must hold)."""

    attribute: str | None = None
    value: str | None = None
    nothing: bool = False
    memory: str | None = None
    within: int = Field(default=3, ge=1)
    absent_values: list[str] = Field(default_factory=list)
    absent_memories: list[str] = Field(default_factory=list)
    absent_text: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _shape(self) -> Expect:
        conditions = [
            self.attribute is not None, self.nothing, self.memory is not None,
            bool(self.absent_values or self.absent_memories or self.absent_text),
        ]  # fmt: skip
        if not any(conditions):
            raise ValueError("expect says nothing to check")
        if self.value is not None and self.attribute is None and self.memory is None:
            raise ValueError("a value is expected of an attribute or a memory")
        return self


class EvalCase(_Strict):
    id: str = Field(min_length=1)
    category: Category
    tenant: str = Field(min_length=1)
    memories: list[MemorySpec] = Field(default_factory=list)
    ask: Ask
    expect: Expect

    @model_validator(mode="after")
    def _fits(self) -> EvalCase:
        if self.ask.facts is not None and self.expect.memory is not None:
            raise ValueError("expect.memory is for a search; facts expect an attribute")
        return self

    def records(self) -> list[MemoryRecord]:
        """The case's memories as records (deterministic provenance: the case and position)."""
        made = []
        for number, spec in enumerate(self.memories):
            kind, entity_id = _entity(spec.entity)
            provenance = Provenance(
                run_id=f"eval-{self.id}-{number}", source_topic=SOURCE_TOPIC,
                source_partition=0, source_offset=number, approved_by="guardrails",
            )  # fmt: skip
            common: dict[str, Any] = {
                "tenant_id": spec.tenant or self.tenant, "principal_id": "svc-memory-eval",
                "entity_kind": kind, "entity_id": entity_id, "provenance": provenance,
            }  # fmt: skip
            if spec.value is not None:
                assert spec.valid_from is not None and spec.attribute is not None
                start = _moment(spec.valid_from)
                made.append(MemoryRecord(
                    kind="fact", attribute=spec.attribute, value=spec.value, valid_from=start,
                    valid_to=None if spec.valid_to is None else _moment(spec.valid_to),
                    occurred_at=start, recorded_at=start, **common,
                ))  # fmt: skip
            else:
                assert spec.when is not None and spec.summary is not None
                when = _moment(spec.when)
                made.append(MemoryRecord(
                    kind="episode", attribute=spec.attribute or "question-answering",
                    episode=Episode(input_summary=spec.summary, output=spec.output or "",
                                    verdict="pass"),
                    valid_from=when, occurred_at=when, recorded_at=when, **common,
                ))  # fmt: skip
        return made


def load_cases(path: Path) -> list[EvalCase]:
    """Every case of a JSON-lines file; a bad line is an error naming the file, the line and
    the field. Case ids are unique."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the memory eval: {exc}") from exc
    cases: list[EvalCase] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            case = EvalCase.model_validate(json.loads(line))
        except ValueError as exc:  # JSON errors and pydantic's ValidationError alike
            if isinstance(exc, ValidationError):
                first = exc.errors()[0]
                where = ".".join(str(part) for part in first["loc"]) or "case"
                raise ConfigError(f"{path}:{number}: {where}: {first['msg']}") from exc
            raise ConfigError(f"{path}:{number}: not JSON: {exc}") from exc
        if case.id in seen:
            raise ConfigError(f"{path}:{number}: id: {case.id!r} is used twice")
        seen.add(case.id)
        cases.append(case)
    return cases


def records_of(cases: Sequence[EvalCase]) -> list[MemoryRecord]:
    """Every case's memories, in file order (the order they are written to the topic)."""
    return [record for case in cases for record in case.records()]


@dataclass(frozen=True)
class Found:
    """One memory a store returned, and (for a search) its cosine similarity to the question."""

    record: MemoryRecord
    similarity: float | None = None

    @property
    def memory(self) -> str:
        r = self.record
        return f"{r.entity_kind}:{r.entity_id}:{r.attribute}"

    @property
    def shown(self) -> str:
        return self.record.value if self.record.value is not None else self.record.text()


@dataclass(frozen=True)
class CaseResult:
    case_id: str
    category: Category
    passed: bool
    why: str  # what was wrong ("" when it passed)
    # a search's: the expected memory's similarity to the question (when it came back), or
    # the closest hit's when nothing is expected: how far a threshold separates the two
    similarity: float | None = None


def ask(store: MemoryStore, case: EvalCase, embedder: Embedder) -> list[Found]:
    """The case's question to the store, as its tenant."""
    q = case.ask
    as_of = None if q.as_of is None else _moment(q.as_of)
    if q.facts is not None:
        kind, entity_id = _entity(q.facts)
        return [Found(r) for r in store.facts(case.tenant, kind, entity_id, as_of=as_of)]
    assert q.search is not None
    hits = store.search(case.tenant, q.search, kinds=q.kinds, entity_kind=q.entity_kind,
                        k=q.k, as_of=as_of)  # fmt: skip
    if not hits:
        return []
    vectors = embedder.embed([q.search, *(h.record.text() for h in hits)])
    return [Found(h.record, _cosine(vectors[0], v)) for h, v in zip(hits, vectors[1:], strict=True)]


def _cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def score(case: EvalCase, found: Sequence[Found], threshold: float = THRESHOLD) -> CaseResult:
    """Whether what the store returned answers the case right, and if not, why."""
    problems: list[str] = []
    foreign = [f.record.key for f in found if f.record.tenant_id != case.tenant]
    if foreign:
        problems.append(f"another tenant's memory came back: {foreign[:2]}")
    e = case.expect
    if e.attribute is not None:
        values = [f.record.value for f in found if f.record.attribute == e.attribute]
        wanted = [] if e.value is None else [e.value]
        if values != wanted:
            problems.append(f"{e.attribute}: {values} instead of {wanted}")
    if e.nothing:
        if case.ask.facts is not None and found:
            problems.append(f"{len(found)} fact(s) instead of none: {found[0].memory}")
        close = [f for f in found if f.similarity is not None and f.similarity >= threshold]
        if case.ask.search is not None and close:
            problems.append(
                f"not known, yet {close[0].memory} came back at {close[0].similarity:.2f} "
                f"(threshold {threshold})"
            )
    if e.memory is not None:
        top = found[: e.within]
        if not any(f.memory == e.memory and e.value in (None, f.shown) for f in top):
            problems.append(f"{e.memory}={e.value!r} not in the first {e.within}: "
                            f"{[(f.memory, f.shown) for f in top]}")  # fmt: skip
    for f in found:
        if f.record.value is not None and f.record.value in e.absent_values:
            problems.append(f"{f.memory} came back with {f.record.value!r}")
        if f.memory in e.absent_memories:
            problems.append(f"{f.memory} came back")
        text = f.record.text()
        problems += [f"{f.memory} holds {s!r}" for s in e.absent_text if s in text]
    return CaseResult(case.id, case.category, not problems, "; ".join(problems),
                      _similarity(case, found))  # fmt: skip


def _similarity(case: EvalCase, found: Sequence[Found]) -> float | None:
    scored = [f for f in found if f.similarity is not None]
    if case.expect.memory is not None:
        scored = [f for f in scored if f.memory == case.expect.memory]
    elif not case.expect.nothing:
        return None
    best = max((f.similarity for f in scored if f.similarity is not None), default=None)
    return None if best is None else round(best, 3)


def summary(results: Sequence[CaseResult]) -> dict[str, Any]:
    """Per category (and over all): cases, passed, and their share."""
    table: dict[str, Any] = {}
    for category in (*CATEGORIES, "all"):
        chosen = [r for r in results if category in ("all", r.category)]
        if not chosen:
            continue
        passed = sum(r.passed for r in chosen)
        table[category] = {"cases": len(chosen), "passed": passed,
                           "score": round(passed / len(chosen), 3)}  # fmt: skip
        similar = sorted(r.similarity for r in chosen if r.similarity is not None)
        if similar and category != "all":
            table[category]["similarity"] = {"min": similar[0], "max": similar[-1],
                                             "median": statistics.median(similar)}  # fmt: skip
    return table


def run(
    store: MemoryStore,
    cases: Sequence[EvalCase],
    embedder: Embedder,
    threshold: float = THRESHOLD,
) -> list[CaseResult]:
    """Every case against a store already holding :func:`records_of` the cases."""
    return [score(case, ask(store, case, embedder), threshold) for case in cases]
