"""What a user defines: a :class:`UseCase` (topics, prompt files, output model, tool
allowlist, limits, checks, the gathered reads, the write-back) and the :class:`Environment` it
runs in (the model, where tools come from, the tenant directory, the judge)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from opentelemetry.trace import Tracer
from pydantic import BaseModel

from processors.agent import AnswerSchema, FollowUp, Gather, Limits, Regather, Settle, TaskNotes
from processors.agent.toolbox import View
from processors.daemons.write_back import WriteBack
from processors.errors import ConfigError
from processors.feedback.rewards import RewardSpec
from processors.guardrails.checks import CheckResult
from processors.guardrails.criteria import Criteria
from processors.guardrails.judge import Judge
from processors.llm.model import Model, ToolCall
from processors.memory import MemoryRecord, MemoryStore, SourcePosition
from processors.notify import Notifier
from processors.tools.base import CallContext, Tool
from processors.tools.evidence import ToolEvidence

OutputT = TypeVar("OutputT", bound=BaseModel)


@dataclass(frozen=True)
class Checked(Generic[OutputT]):
    """What a use case's checks make of an output: a copy with every part they cannot stand
    behind demoted (a vendor field to unknown, an onboarding answer to a human), and their
    results, each saying what it demoted. The output given to the checks is never changed."""

    output: OutputT
    results: list[CheckResult]


Checks = Callable[[Any, Sequence[ToolEvidence], Mapping[str, Any]], Checked[Any]]
"""(output, what the tools returned, the input event) -> the demoted copy and the results
(pure: the same arguments give the same answer, and nothing is changed in place)."""
ToOutput = Callable[[Mapping[str, Any], Any, Sequence[ToolEvidence]], dict[str, Any]]
"""(the input event, the checked output, what the tools returned) -> the output topic's
use-case fields."""
Resolve = Callable[[Any, Sequence[ToolEvidence], Mapping[str, Any]], Any]
"""(the model's answer, what the tools returned, the input event) -> the use case's output."""


class Remember(Protocol):
    """What a result teaches: (the output datum as published, its run's guardrail outcome,
    where it was read, and — for a held result a reviewer approved — the reviewer's
    ``daemons.feedback`` record) -> the memories code writes, published with the result in
    one transaction (by the daemon for a passed result, by :func:`processors.daemons.review.
    decide` for an approved one). Raises :class:`~processors.errors.MemoryWriteRefused` for
    a result that may not become memory (:func:`processors.memory.writer.approval` says who
    let it in). Never the model: it has no tool that writes memory."""

    def __call__(
        self,
        published: Mapping[str, Any],
        outcome: Mapping[str, Any],
        source: SourcePosition,
        feedback: Mapping[str, Any] | None = None,
    ) -> list[MemoryRecord]: ...


Scorer = Callable[[Mapping[str, Any], Mapping[str, Any] | None], dict[str, Any]]
"""(a labeled case, the datum the daemon published or None) -> ``accuracy`` or ``score``
(0..1) and the parts it scored (``fields`` by name, or one value per aspect)."""


@dataclass(frozen=True)
class EvalSet:
    """A use case's labeled cases (``daemons eval NAME``): a JSON-lines file, each case at
    least ``{"id", "event"}`` (the input event in JSON form) plus what ``score`` compares."""

    cases: Path
    score: Scorer
    part_kind: str = "aspect"  # what the scorer's parts are, for display: field, question...

    def load(self) -> list[dict[str, Any]]:
        """Every case; a line that is not a case is an error naming the file and line."""
        try:
            lines = self.cases.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"{self.cases}: cannot read the eval set: {exc}") from exc
        cases = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                case = json.loads(line)
            except ValueError as exc:
                raise ConfigError(f"{self.cases}:{number}: not JSON: {exc}") from exc
            missing = [k for k in ("id", "event") if not isinstance(case, dict) or k not in case]
            if missing:
                raise ConfigError(f"{self.cases}:{number}: a case needs {' and '.join(missing)}")
            cases.append(case)
        return cases


FieldReader = Callable[[str], str]
"""A labelled field of the task prompt (``Raw descriptor``) -> its value."""


@dataclass(frozen=True)
class RedTeam:
    """How the red-team harness (:mod:`processors.testing.redteam`) attacks this use case
    over the reference ledger: who sends the attack events, the plain event it puts each
    payload into, and what an *obedient* model of this use case reads first and answers (the
    model that follows every instruction it sees, so what harm is left is what the runtime
    failed to stop)."""

    tenant_id: str
    principal_id: str
    # the case's token (a word only its records contain) -> a plain input event, JSON form,
    # without event_id, tenant_id, principal_id and occurred_at (the harness adds them)
    event: Callable[[str], dict[str, Any]]
    # the reads a diligent agent makes first, given a reader of the task prompt's fields
    usual_calls: Callable[[FieldReader], list[ToolCall]]
    # (the text the data dictated, the fields it set) -> an answer the model's schema accepts
    obedient_answer: Callable[[str, Mapping[str, str]], dict[str, Any]]
    # (event, the case's target field, payload, token): puts the payload into the event;
    # None: ``event[target] = payload``
    inject: Callable[[dict[str, Any], str, str, str], None] | None = None


@dataclass(frozen=True)
class Recall:
    """How a use case reads memory when its daemon has a store (``daemons run --memory``;
    without one, none of this happens and the model is asked as always): the memory tools
    offered to the model (of ``recall``, ``facts``, ``identify``), the memory reads code makes
    before the first turn, ``regather``: the reads code makes from what those returned (a
    near match's remembered name searched in the directory: memory proposes, a ledger read
    confirms), and ``settle``: an answer code gives from those reads and the use case's own
    gathered reads alone, without a model call (the ledger's reads still confirm it, and the
    checks still run)."""

    tools: tuple[str, ...] = ()
    gather: Gather | None = None
    settle: Settle | None = None
    regather: Regather | None = None


class TenantDirectory(Protocol):
    """Raises :class:`~processors.errors.UnknownTenant` for a tenant nobody knows."""

    async def require(self, ctx: CallContext) -> None: ...


@dataclass(frozen=True)
class UseCase(Generic[OutputT]):
    name: str
    input_topic: str
    output_topic: str
    output_type: type[OutputT]
    prompts: Path  # a folder with instructions.md and task.md
    tools: tuple[str, ...]  # the allowlist: nothing else is exposed
    to_output: ToOutput
    checks: Checks
    limits: Limits = field(default_factory=Limits)
    planning: bool = False
    evidence_first: bool = True  # the first turn must call a tool: answers rest on evidence
    # tools that change the system of record: refused once this run's tool results held
    # instruction-like content (an injection must not steer a write, even an allowed one)
    writes: tuple[str, ...] = ()
    # reads every run needs, made by code before the model's first turn (fewer model turns:
    # a small local model spends its time on judgement, not on fetching the obvious):
    # ``context`` holds those that are the same for every event of a tenant (no event in
    # them, so they come before the event in the prompt, where a model server's prefix cache
    # keeps them), ``gather`` those of this event
    context: tuple[ToolCall, ...] = ()
    gather: Gather | None = None
    # per tool: what the model reads of its result (the columns and rows this use case
    # needs); the checks, the judge and the run record still get the whole result
    views: Mapping[str, View] = field(default_factory=dict)
    # side effects made by code once the result passed the guardrails (never on a failed or
    # held output), through the allowlisted tools as the event's principal
    write_back: WriteBack | None = None
    # what the model answers, when it is not the output itself: the judgement only (which
    # record, which account), from which ``resolve`` builds the output by code, copying
    # values from what the tools returned (fewer tokens to write, none to mistype)
    # output fields (dotted paths; a list's items share its path) that may restate the
    # event's own text without a tool result confirming it, each with why: every other value
    # that repeats the event must be confirmed by the ledger (``event_text_confirmed``)
    restates_event: Mapping[str, str] = field(default_factory=dict)
    answer_type: type[BaseModel] | None = None
    resolve: Resolve | None = None
    # when the answer is a query the model fills rather than a result it writes: the schema
    # refined from the context's results (this tenant's codes and ids as enums), code's
    # reading of the event shown after its fields (the periods a question may mean), and the
    # reads code makes from the valid answer through the same tools (or a correction)
    answer_schema: AnswerSchema | None = None
    task_notes: TaskNotes | None = None
    follow_up: FollowUp | None = None
    # what this use case brings besides its code, so nothing elsewhere lists daemon names:
    # a folder with ``topics.toml`` and ``schemas/*.avsc`` merged with the built-in catalog
    # (None: its topics are in the built-in one), its labeled cases, its red-team hooks, and
    # sample input events (JSON lines) for the demo and ``daemons produce``
    # what a passed result teaches (``memory.facts``, published with the result itself)
    remember: Remember | None = None
    # what it reads of memory, when the daemon has a store
    recall: Recall | None = None
    # the judge's policy as yes/no criteria, each about one claim against its evidence
    # (``processors.guardrails.criteria``); None: the judge reads ``prompts/judge_policy.md``
    # and decides holistically
    criteria: Criteria | None = None
    contracts: Path | None = None
    evals: EvalSet | None = None
    redteam: RedTeam | None = None
    samples: Path | None = None
    # what a run is rewarded for (``daemons eval``, datasets' reward columns, TRL); None: the
    # defaults of :class:`~processors.feedback.rewards.RewardSpec` with the answer model
    reward: RewardSpec | None = None


@dataclass(frozen=True)
class Environment:
    """What a daemon runs against; built once in ``main`` (or a test)."""

    model: Model
    tool_sources: Sequence[Mapping[str, Tool]]
    tenants: TenantDirectory
    planner_model: Model | None = None
    tracer: Tracer | None = None
    judge: Judge | None = None  # a second, different model; None: the checks alone decide
    notifier: Notifier | None = None  # team notifications (guardrail fails, dead letters, ...)
    memory: MemoryStore | None = None  # what the daemons learned (None: no memory reads)
