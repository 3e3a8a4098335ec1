"""What a user defines: a :class:`UseCase` (topics, prompt files, output model, tool
allowlist, limits, checks, the gathered reads, the write-back) and the :class:`Environment` it
runs in (the model, where tools come from, the tenant directory, the judge)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from opentelemetry.trace import Tracer
from pydantic import BaseModel

from processors.agent import Gather, Limits
from processors.agent.toolbox import View
from processors.daemons.write_back import WriteBack
from processors.guardrails.checks import CheckResult
from processors.guardrails.judge import Judge
from processors.llm.model import Model, ToolCall
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
    answer_type: type[BaseModel] | None = None
    resolve: Resolve | None = None


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
