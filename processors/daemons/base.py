"""An agent daemon: event → agent run → deterministic checks → output, outcome, run record.

A :class:`UseCase` is data (topics, prompt files, output model, tool allowlist, limits, checks);
:func:`build_daemon` turns it into a runtime :class:`~processors.runtime.Daemon` given an
:class:`Environment` (the model, where tools come from, the tenant directory). Every run
publishes its guardrail outcome to ``guardrails.outcomes`` and its run record to
``daemons.runs``; the result goes to the use case's output topic only when the checks pass.
A failed run's record travels with its dead letter.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from opentelemetry import trace
from opentelemetry.trace import Tracer
from pydantic import BaseModel

from processors.agent import Agent, Limits, Planner, Prompt, RunRecord
from processors.errors import AgentRunError
from processors.guardrails.checks import CheckResult, ToolEvidence, no_secrets, output_schema
from processors.llm.model import Model
from processors.runtime.daemon import Daemon, EventContext, Output, RetryPolicy
from processors.tools.base import CallContext, Tool, ToolError
from processors.tools.catalog import ToolCatalog

OutputT = TypeVar("OutputT", bound=BaseModel)
Checks = Callable[[Any, Sequence[ToolEvidence], Mapping[str, Any]], list[CheckResult]]
"""(output, what the tools returned, the input event) -> check results."""
_EVIDENCE: ContextVar[list[ToolEvidence]] = ContextVar("tool_evidence")


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
    to_output: Callable[[Mapping[str, Any], OutputT], dict[str, Any]]
    checks: Checks
    limits: Limits = field(default_factory=Limits)
    planning: bool = False
    evidence_first: bool = True  # the first turn must call a tool: answers rest on evidence


@dataclass(frozen=True)
class Environment:
    """What a daemon runs against; built once in ``main`` (or a test)."""

    model: Model
    tool_sources: Sequence[Mapping[str, Tool]]
    tenants: TenantDirectory
    planner_model: Model | None = None
    tracer: Tracer | None = None


class _ScopedTool:
    """Delegates to a tool as the runtime's guard: the event's tenant is put into every call
    (a ``tenant_id`` argument is optional for the model and overwritten — the model can never
    name another tenant), and what the tool really returned is kept for the checks."""

    def __init__(self, tool: Tool) -> None:
        self._tool = tool
        schema = tool.input_schema
        self._scoped = "tenant_id" in schema.get("properties", {})
        if self._scoped:
            required = [r for r in schema.get("required", []) if r != "tenant_id"]
            schema = {**schema, "required": required}
        self._schema = schema

    @property
    def name(self) -> str:
        return self._tool.name

    @property
    def description(self) -> str:
        return self._tool.description

    @property
    def input_schema(self) -> dict[str, Any]:
        return self._schema

    @property
    def output_schema(self) -> dict[str, Any] | None:
        return self._tool.output_schema

    async def call(self, arguments: dict[str, Any], ctx: CallContext) -> Any:
        evidence = _EVIDENCE.get([])
        if self._scoped:
            if arguments.get("tenant_id") not in (None, ctx.tenant_id):
                trace.get_current_span().add_event(
                    "tenant_overridden", {"tool": self.name, "asked": str(arguments["tenant_id"])}
                )
            arguments = {**arguments, "tenant_id": ctx.tenant_id}
        try:
            result = await self._tool.call(arguments, ctx)
        except ToolError as exc:
            evidence.append(ToolEvidence(self.name, arguments, None, str(exc)))
            raise
        evidence.append(ToolEvidence(self.name, arguments, _plain(result)))
        return result


@contextlib.contextmanager
def collecting_evidence() -> Iterator[list[ToolEvidence]]:
    """Collect what the daemon's tools return inside the block (for checks, evals, tests)."""
    evidence: list[ToolEvidence] = []
    token = _EVIDENCE.set(evidence)
    try:
        yield evidence
    finally:
        _EVIDENCE.reset(token)


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def build_agent(use_case: UseCase[OutputT], env: Environment) -> Agent[OutputT]:
    catalog = ToolCatalog.build(env.tool_sources, use_case.tools)  # unknown name: ConfigError
    planner = None
    if use_case.planning:
        planner = Planner(model=env.planner_model or env.model)
    return Agent(
        daemon=use_case.name,
        model=env.model,
        instructions=Prompt.load(use_case.prompts / "instructions.md"),
        task=Prompt.load(use_case.prompts / "task.md"),
        output_type=use_case.output_type,
        tools=[_ScopedTool(catalog.get(name)) for name in use_case.tools],
        limits=use_case.limits,
        planner=planner,
        tracer=env.tracer,
        evidence_first=use_case.evidence_first,
    )


def run_checks(
    use_case: UseCase[OutputT],
    output: OutputT,
    evidence: Sequence[ToolEvidence],
    event: Mapping[str, Any],
) -> list[CheckResult]:
    """The deterministic checks of one run, in order: schema, the use case's own, secrets."""
    return [
        output_schema(use_case.output_type.__name__),
        *use_case.checks(output, evidence, event),
        no_secrets(output.model_dump(mode="json")),
    ]


def build_daemon(use_case: UseCase[OutputT], env: Environment) -> Daemon:
    agent = build_agent(use_case, env)
    tracer = env.tracer or trace.get_tracer("processors.daemons")

    async def handle(event: dict[str, Any], ctx: EventContext) -> list[Output]:
        call = CallContext(
            tenant_id=ctx.tenant_id, principal_id=ctx.principal_id,
            event_id=ctx.event_id, run_id=uuid.uuid4().hex,
        )  # fmt: skip
        await env.tenants.require(call)
        with collecting_evidence() as evidence:
            try:
                result = await agent.run(event, call)
            except AgentRunError as exc:
                if exc.record is not None:  # the failed run's trace goes out with its letter
                    exc.outputs = [Output("daemons.runs", exc.record.to_avro())]  # type: ignore[attr-defined]
                raise
        with tracer.start_as_current_span(f"guardrails {use_case.name}") as span:
            checks = run_checks(use_case, result.output, evidence, event)
            verdict = "pass" if all(c.passed for c in checks) else "fail"
            span.set_attribute("daemons.guardrail.verdict", verdict)
        record = result.record
        outputs: list[Output] = []
        if verdict == "pass":
            value = {**_common(event, record), **use_case.to_output(event, result.output)}
            outputs.append(Output(use_case.output_topic, value))
        outputs.append(Output("guardrails.outcomes", _outcome(event, record, verdict, checks)))
        outputs.append(Output("daemons.runs", record.to_avro()))
        return outputs

    return Daemon(
        name=use_case.name,
        inputs=(use_case.input_topic,),
        outputs=(use_case.output_topic, "guardrails.outcomes", "daemons.runs"),
        handler=handle,
        retry=RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=30.0),
    )


def _common(event: Mapping[str, Any], record: RunRecord) -> dict[str, Any]:
    return {
        "event_id": event["event_id"],
        "tenant_id": event["tenant_id"],
        "principal_id": event["principal_id"],
        "occurred_at": dt.datetime.now(dt.UTC),
        "output_id": "",  # filled by the runtime: deterministic per (event, topic, index)
        "run_id": record.run_id,
        "trace_id": record.trace_id,
    }


def _outcome(
    event: Mapping[str, Any], record: RunRecord, verdict: str, checks: list[CheckResult]
) -> dict[str, Any]:
    return {
        "event_id": event["event_id"],
        "tenant_id": event["tenant_id"],
        "principal_id": event["principal_id"],
        "occurred_at": dt.datetime.now(dt.UTC),
        "run_id": record.run_id,
        "daemon": record.daemon,
        "verdict": verdict,
        "checks": [c.as_datum() for c in checks],
        "scores": {},
        "reasons": [f"{c.name}: {c.detail}" for c in checks if not c.passed],
        "judge_model": None,
        "trace_id": record.trace_id,
    }
