"""An agent daemon: event → agent run → deterministic checks → output, outcome, run record.

A :class:`UseCase` is data (topics, prompt files, output model, tool allowlist, limits, checks);
:func:`build_daemon` turns it into a runtime :class:`~processors.runtime.Daemon` given an
:class:`Environment` (the model, where tools come from, the tenant directory). Every run
publishes its guardrail outcome to ``guardrails.outcomes`` and its run record to
``daemons.runs``; the result goes to the use case's output topic only when the checks and the
judge (``Environment.judge``, a second model) pass it, to ``guardrails.review`` when it needs
a person (:mod:`processors.guardrails.routing`), and nowhere when it fails.
A failed run's record travels with its dead letter.
"""

from __future__ import annotations

import asyncio
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

from processors.agent import Agent, Gather, Limits, Planner, Prompt, RunRecord
from processors.agent.toolbox import View
from processors.daemons.write_back import WriteBack, tool_caller
from processors.errors import DaemonsError, PermanentError, TransientError, WriteBackFailed
from processors.guardrails import defenses as guard_defenses
from processors.guardrails.checks import (
    CheckResult,
    ToolEvidence,
    cross_tenant_refs,
    no_pii,
    no_secrets,
    tool_call_policy,
)
from processors.guardrails.judge import Judge, load_policy
from processors.guardrails.notices import dead_letter_notice
from processors.guardrails.routing import (
    REVIEW_TOPIC,
    Decision,
    after_checks,
    from_judge,
    held_result,
)
from processors.guardrails.screen import (
    Flag,
    injection_check,
    record_flags,
    screen_event,
    screen_value,
)
from processors.llm.model import Model, ToolCall
from processors.notify import Notice, NoticeKind, Notifier
from processors.runtime.daemon import Daemon, EventContext, HandlerFailed, Output, RetryPolicy
from processors.runtime.metrics import record_verdict
from processors.serde.json_codec import to_json
from processors.tools.base import CallContext, Tool, ToolError
from processors.tools.catalog import ToolCatalog

OutputT = TypeVar("OutputT", bound=BaseModel)
Checks = Callable[[Any, Sequence[ToolEvidence], Mapping[str, Any]], list[CheckResult]]
"""(output, what the tools returned, the input event) -> check results."""
Resolve = Callable[[Any, Sequence[ToolEvidence], Mapping[str, Any]], Any]
"""(the model's answer, what the tools returned, the input event) -> the use case's output."""
_EVIDENCE: ContextVar[list[ToolEvidence]] = ContextVar("tool_evidence")
WRITE_ATTEMPTS = 3  # a transient write-back failure is retried here, not by re-running the event
WRITE_BACKOFF_S = 0.5  # then 1 s


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


class _ScopedTool:
    """Delegates to a tool as the runtime's guard: the event's tenant is put into every call
    (a ``tenant_id`` argument is optional for the model and overwritten — the model can never
    name another tenant), what the tool really returned is kept for the checks, screened for
    instruction-like content (flags in the evidence and on the span), and a ``write`` tool is
    refused once an earlier result of the run was flagged."""

    def __init__(self, tool: Tool, *, write: bool = False) -> None:
        self._tool, self._write = tool, write
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
        defenses = guard_defenses.current()
        if self._scoped:
            asked = arguments.get("tenant_id")
            if asked not in (None, ctx.tenant_id):
                trace.get_current_span().add_event(
                    "tenant_overridden", {"tool": self.name, "asked": str(asked)}
                )
            if defenses.scoping or asked is None:
                arguments = {**arguments, "tenant_id": ctx.tenant_id}
        where = f"tool:{self.name}"
        tainted = [flag for item in evidence for flag in item.flags]
        if self._write and tainted and defenses.screen:
            message = (
                "write refused: this run's tool results held instruction-like content "
                f"({tainted[0]}); a person must review before anything is written"
            )
            evidence.append(ToolEvidence(self.name, arguments, None, message))
            raise ToolError(message)
        try:
            result = await self._tool.call(arguments, ctx)
        except ToolError as exc:
            flags = _screen(str(exc), f"{where} error", defenses.screen)
            evidence.append(ToolEvidence(self.name, arguments, None, str(exc), flags))
            raise
        plain = _plain(result)
        evidence.append(
            ToolEvidence(self.name, arguments, plain, None, _screen(plain, where, defenses.screen))
        )
        return result


def _screen(value: Any, where: str, enabled: bool) -> tuple[str, ...]:
    """Screen what a tool returned; flags go on the current (execute_tool) span and into the
    evidence, from where ``run_checks`` reports them as the ``prompt_injection`` check."""
    if not enabled:
        return ()
    flags = screen_value(value, where)
    record_flags(flags)
    return tuple(str(flag) for flag in flags)


@contextlib.contextmanager
def collecting_evidence(
    into: list[ToolEvidence] | None = None,
) -> Iterator[list[ToolEvidence]]:
    """Collect what the daemon's tools return inside the block (for checks, evals, tests),
    appending to ``into`` when given: the write-back runs with its run's evidence, so a write
    tool sees what the run's reads were flagged for."""
    evidence: list[ToolEvidence] = into if into is not None else []
    token = _EVIDENCE.set(evidence)
    try:
        yield evidence
    finally:
        _EVIDENCE.reset(token)


def _plain(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


def build_agent(use_case: UseCase[OutputT], env: Environment) -> Agent[Any]:
    catalog = ToolCatalog.build(env.tool_sources, use_case.tools)  # unknown name: ConfigError
    planner = None
    if use_case.planning:
        planner = Planner(model=env.planner_model or env.model)
    return Agent(
        daemon=use_case.name,
        model=env.model,
        instructions=Prompt.load(use_case.prompts / "instructions.md"),
        task=Prompt.load(use_case.prompts / "task.md"),
        output_type=use_case.answer_type or use_case.output_type,
        tools=[
            _ScopedTool(catalog.get(name), write=name in use_case.writes)
            for name in use_case.tools
            if use_case.write_back is None or name not in use_case.writes  # writes: by code
        ],
        limits=use_case.limits,
        planner=planner,
        tracer=env.tracer,
        evidence_first=use_case.evidence_first,
        gather=use_case.gather,
        context=use_case.context,
        views=use_case.views,
    )


def write_tools(use_case: UseCase[OutputT], env: Environment) -> dict[str, Tool]:
    """The use case's write tools for its :attr:`UseCase.write_back`, scoped like the agent's."""
    catalog = ToolCatalog.build(env.tool_sources, use_case.writes)
    return {name: _ScopedTool(catalog.get(name), write=True) for name in use_case.writes}


def run_checks(
    use_case: UseCase[OutputT],
    output: OutputT,
    evidence: Sequence[ToolEvidence],
    event: Mapping[str, Any],
    record: RunRecord | None = None,
) -> list[CheckResult]:
    """The deterministic checks of one run, in order: the use case's own, secrets, PII,
    other tenants' ids, the tool-call policy (``record``: the calls the model asked for,
    refused ones included) and, last, ``prompt_injection`` — what the screen flagged in the
    event's fields and in the tool results. (The output's shape is no check here: the agent
    loop returns only an output that validated against its model, and the runtime encodes
    every published datum against its topic's Avro schema — a datum that does not fit is
    dead-lettered, never published.)

    A use case's own checks may *demote* parts of ``output`` they cannot stand behind, in
    place (a vendor field to unknown, an onboarding answer to a human), and say so in their
    detail; secrets, PII and other tenants' ids are looked for in the output as the model
    gave it, before any demotion."""
    data = output.model_dump(mode="json")
    tenant = str(event.get("tenant_id", ""))
    return [
        *use_case.checks(output, evidence, event),
        no_secrets(data),
        no_pii(data, evidence, event),
        cross_tenant_refs(data, tenant),
        tool_call_policy(
            use_case.tools, tenant, evidence, record.tool_calls if record is not None else ()
        ),
        _injection(event, evidence),
    ]


def _injection(event: Mapping[str, Any], evidence: Sequence[ToolEvidence]) -> CheckResult:
    flags: list[str | Flag] = []
    if guard_defenses.current().screen:
        in_event = screen_event(event)
        record_flags(in_event)
        flags = [*in_event, *(flag for item in evidence for flag in item.flags)]
    return injection_check(flags)


@dataclass(frozen=True)
class Processed(Generic[OutputT]):
    """One event's way through a use case, up to what would be published."""

    output: OutputT  # the checked output (parts demoted; after the write-back when it passed)
    record: RunRecord
    checks: list[CheckResult]
    decision: Decision
    value: dict[str, Any]  # the output topic's datum, common fields included


class Pipeline(Generic[OutputT]):
    """One event through a use case, without Kafka: tenant check, agent run (collecting what
    the tools return), the deterministic checks, the judge, and — only once the result
    passed — the write-back. The daemon's handler and ``daemons eval`` both run this, so an
    eval judges a run exactly as the daemon does. Raises what the run raised (the closed run
    record on the error's ``record``)."""

    def __init__(self, use_case: UseCase[OutputT], env: Environment) -> None:
        self.use_case, self.env = use_case, env
        self.agent = build_agent(use_case, env)
        self.writable = write_tools(use_case, env) if use_case.write_back is not None else {}
        self.tracer = env.tracer or trace.get_tracer("processors.daemons")
        self.judging = None  # (judge, task, policy); both prompts versioned by content
        if env.judge is not None:  # a missing prompt file: ConfigError, at start-up
            task, policy = Prompt.load(use_case.prompts / "task.md"), load_policy(use_case.prompts)
            self.judging = (env.judge, task, policy)

    async def run(self, event: Mapping[str, Any], call: CallContext) -> Processed[OutputT]:
        use_case = self.use_case
        await self.env.tenants.require(call)
        with collecting_evidence() as evidence:
            result = await self.agent.run(event, call)
        record = result.record
        output: OutputT = result.output
        if use_case.resolve is not None:  # the model chose; code copies what it chose
            output = use_case.resolve(result.output, evidence, event)
        with self.tracer.start_as_current_span(f"guardrails {use_case.name}") as span:
            checks = run_checks(use_case, output, evidence, event, record)
            # after the checks: they may have demoted parts of the output (see run_checks)
            value = {**_common(event, record), **use_case.to_output(event, output)}
            decision = after_checks(checks)
            if decision is None and self.judging is not None:
                judge, task, policy = self.judging
                verdict = await judge.evaluate(
                    task=task, event=event, output=to_json(value), evidence=evidence,
                    policy=policy,
                )  # fmt: skip
                decision = from_judge(verdict)
            decision = decision or Decision("pass", [])
            span.set_attribute("daemons.guardrail.verdict", decision.verdict)
            judge_model = self.env.judge.name if self.env.judge else "none"
            span.set_attribute("daemons.guardrail.judge_model", judge_model)
        if decision.verdict == "pass" and use_case.write_back is not None:
            with collecting_evidence(list(evidence)):  # a flagged read refuses the write
                output = await self._write_back(event, output, call, record, decision, checks)
            value = {**_common(event, record), **use_case.to_output(event, output)}
        return Processed(output, record, checks, decision, value)

    async def _write_back(
        self, event: Mapping[str, Any], output: OutputT, call: CallContext, record: RunRecord,
        decision: Decision, checks: list[CheckResult],
    ) -> OutputT:  # fmt: skip
        """The write, retried by itself on a transient failure (the paid agent run is not
        redone for it; the write is idempotent by event id). When it still fails, the event
        is dead-lettered with the run's record and outcome (:class:`WriteBackFailed`)."""
        assert self.use_case.write_back is not None
        writes = tool_caller(self.writable, call, record, self.tracer)
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                written: OutputT = await self.use_case.write_back(event, output, writes)
                return written
            except TransientError as exc:
                if attempt == WRITE_ATTEMPTS:
                    failure: DaemonsError = exc
                    break
                await asyncio.sleep(WRITE_BACKOFF_S * 2 ** (attempt - 1))
            except PermanentError as exc:
                failure = exc
                break
        why = f"write-back failed after {attempt} attempt(s): {failure}"
        outcome = _outcome(event, record, Decision("fail", [why]), checks)
        raise WriteBackFailed(why, record=record, outcome=outcome) from failure


def build_daemon(use_case: UseCase[OutputT], env: Environment) -> Daemon:
    pipeline = Pipeline(use_case, env)

    async def handle(event: dict[str, Any], ctx: EventContext) -> list[Output]:
        call = CallContext(
            tenant_id=ctx.tenant_id, principal_id=ctx.principal_id,
            event_id=ctx.event_id, run_id=uuid.uuid4().hex,
        )  # fmt: skip
        try:
            done = await pipeline.run(event, call)
        except DaemonsError as exc:  # a limit, a model's or a provider's failure
            if not isinstance(exc.record, RunRecord):
                raise
            extra = [Output("daemons.runs", exc.record.to_avro())]  # the run's trace too
            if isinstance(exc, WriteBackFailed):  # and its outcome, with the reason
                extra.insert(0, Output("guardrails.outcomes", dict(exc.outcome)))
            raise HandlerFailed(exc, extra) from exc
        record, decision = done.record, done.decision
        record_verdict(use_case.name, decision.verdict)
        _notify(env.notifier, use_case.name, event, record, decision)
        outputs: list[Output] = []
        if decision.verdict == "pass":
            outputs.append(Output(use_case.output_topic, done.value))
        elif decision.verdict == "needs_review":
            held = held_result(
                event=event, daemon=use_case.name, target_topic=use_case.output_topic,
                value=done.value, decision=decision, run_id=record.run_id,
                trace_id=record.trace_id,
            )  # fmt: skip
            outputs.append(Output(REVIEW_TOPIC, held))
        outcome = _outcome(event, record, decision, done.checks)
        outputs.append(Output("guardrails.outcomes", outcome))
        outputs.append(Output("daemons.runs", record.to_avro()))
        return outputs

    return Daemon(
        name=use_case.name,
        inputs=(use_case.input_topic,),
        outputs=(use_case.output_topic, REVIEW_TOPIC, "guardrails.outcomes", "daemons.runs"),
        handler=handle,
        retry=RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=30.0),
        on_dead_letter=dead_letter_notice(env.notifier) if env.notifier else None,
    )


def _notify(
    notifier: Notifier | None,
    daemon: str,
    event: Mapping[str, Any],
    record: RunRecord,
    decision: Decision,
) -> None:
    if notifier is None or decision.verdict == "pass":
        return
    kind: NoticeKind
    if decision.judge_error is not None:
        kind = "judge_error"
    elif decision.verdict == "fail":
        kind = "guardrail_fail"
    else:
        return  # held for review: the review queue is the notification
    notice = Notice(
        kind=kind, daemon=daemon, tenant_id=str(event["tenant_id"]),
        reason="; ".join(decision.reasons) or decision.verdict, run_id=record.run_id,
        trace_id=record.trace_id, event_id=str(event["event_id"]),
    )  # fmt: skip
    notifier.notify(notice)


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
    event: Mapping[str, Any], record: RunRecord, decision: Decision, checks: list[CheckResult]
) -> dict[str, Any]:
    return {
        "event_id": event["event_id"],
        "tenant_id": event["tenant_id"],
        "principal_id": event["principal_id"],
        "occurred_at": dt.datetime.now(dt.UTC),
        "run_id": record.run_id,
        "daemon": record.daemon,
        "verdict": decision.verdict,
        "checks": [c.as_datum() for c in checks],
        "scores": decision.scores,
        "reasons": [r[:500] for r in decision.reasons],
        "judge_model": decision.judge_model,
        "trace_id": record.trace_id,
    }
