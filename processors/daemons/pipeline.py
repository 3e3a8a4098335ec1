"""One event through a use case, without Kafka: tenant check, agent run (collecting what the
tools return), the deterministic checks, the judge, and — only once the result passed — the
write-back (:class:`Pipeline`); and the records every run publishes (its result's common
fields, its guardrail outcome)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from opentelemetry import trace

from processors.agent import Agent, Gather, Planner, Prompt, RunRecord
from processors.daemons.usecase import Checked, Environment, OutputT, UseCase
from processors.daemons.write_back import tool_caller
from processors.errors import (
    ConfigError,
    DaemonsError,
    PermanentError,
    TransientError,
    WriteBackFailed,
)
from processors.guardrails.checks import (
    CheckResult,
    cross_tenant_refs,
    event_text_confirmed,
    no_pii,
    no_secrets,
    tool_call_policy,
)
from processors.guardrails.judge import load_policy
from processors.guardrails.routing import (
    Decision,
    after_checks,
    from_judge,
)
from processors.guardrails.screen import (
    Flag,
    injection_check,
    no_authority_claims,
    record_flags,
    screen_event,
    screen_tool_result,
)
from processors.llm.model import ToolCall
from processors.serde.json_codec import to_json
from processors.tools.base import CallContext, Tool
from processors.tools.catalog import ToolCatalog
from processors.tools.evidence import ToolEvidence
from processors.tools.memory import memory_tools
from processors.untrusted import defenses as guard_defenses

WRITE_ATTEMPTS = 3  # a transient write-back failure is retried here, not by re-running the event
WRITE_BACKOFF_S = 0.5  # then 1 s


def allowlist(use_case: UseCase[Any]) -> tuple[str, ...]:
    """The tools a run of ``use_case`` may call: its own and the memory tools it reads (those
    need no tenant argument: they read the call's tenant)."""
    return (*use_case.tools, *(use_case.recall.tools if use_case.recall is not None else ()))


def build_agent(use_case: UseCase[OutputT], env: Environment) -> Agent[Any]:
    # unknown name: ConfigError; every tool called for the event's tenant only
    catalog = ToolCatalog.build(env.tool_sources, use_case.tools, tenant_scoped=True)
    tools = [
        catalog.get(name)
        for name in use_case.tools
        if use_case.write_back is None or name not in use_case.writes  # writes: by code
    ]
    gather, settle, regather = use_case.gather, None, None
    recall = use_case.recall
    if recall is not None and env.memory is not None:
        memory = memory_tools(env.memory)  # an unknown name: ConfigError, at start-up
        unknown = sorted(set(recall.tools) - set(memory))
        if unknown:
            raise ConfigError(f"{use_case.name}: no memory tool named {unknown}")
        tools += [memory[name] for name in recall.tools]
        if recall.gather is not None:  # memory reads first, then the use case's own
            gather = _chained(recall.gather, use_case.gather)
        settle, regather = recall.settle, recall.regather
    planner = None
    if use_case.planning:
        planner = Planner(model=env.planner_model or env.model)
    return Agent(
        daemon=use_case.name,
        model=env.model,
        instructions=Prompt.load(use_case.prompts / "instructions.md"),
        task=Prompt.load(use_case.prompts / "task.md"),
        output_type=use_case.answer_type or use_case.output_type,
        tools=tools,
        screen=screen_tool_result,
        limits=use_case.limits,
        planner=planner,
        tracer=env.tracer,
        evidence_first=use_case.evidence_first,
        gather=gather,
        settle=settle,
        regather=regather,
        context=use_case.context,
        views=use_case.views,
        answer_schema=use_case.answer_schema,
        task_notes=use_case.task_notes,
        follow_up=use_case.follow_up,
    )


def _chained(first: Gather, then: Gather | None) -> Gather:
    def gather(event: Mapping[str, Any]) -> list[ToolCall]:
        return [*first(event), *(then(event) if then is not None else ())]

    return gather


def write_tools(use_case: UseCase[OutputT], env: Environment) -> dict[str, Tool]:
    """The use case's write tools for its :attr:`UseCase.write_back`, scoped like the agent's."""
    catalog = ToolCatalog.build(env.tool_sources, use_case.writes, tenant_scoped=True)
    return {name: catalog.get(name) for name in use_case.writes}


def run_checks(
    use_case: UseCase[OutputT],
    output: OutputT,
    evidence: Sequence[ToolEvidence],
    event: Mapping[str, Any],
    record: RunRecord | None = None,
) -> Checked[OutputT]:
    """The deterministic checks of one run, in order: the use case's own, secrets, claims of
    a review's authority, values only the event's text vouches for, PII, other tenants'
    ids, the tool-call policy (``record``: the calls the model asked for, refused ones
    included) and, last, ``prompt_injection`` — what
    the screen flagged in the event's fields and in the tool results. (The output's shape is
    no check here: the agent loop returns only an output that validated against its model,
    and the runtime encodes every published datum against its topic's Avro schema — a datum
    that does not fit is dead-lettered, never published.)

    A use case's own checks may *demote* parts of ``output`` they cannot stand behind (a
    vendor field to unknown, an onboarding answer to a human) in the copy they return, and
    say so in their detail; secrets, PII and other tenants' ids are looked for in the output
    as the model gave it, before any demotion. Pure: ``output`` is not changed."""
    data = output.model_dump(mode="json")
    tenant = str(event.get("tenant_id", ""))
    own: Checked[OutputT] = use_case.checks(output, evidence, event)
    return Checked(own.output, [
        *own.results,
        no_secrets(data),
        no_authority_claims(data),
        event_text_confirmed(
            own.output.model_dump(mode="json"), event, evidence, use_case.restates_event
        ),  # what would be published: an answer the use case demoted no longer restates
        no_pii(data, evidence, event),
        cross_tenant_refs(data, tenant),
        tool_call_policy(
            allowlist(use_case), tenant, evidence, record.tool_calls if record is not None else ()
        ),
        _injection(event, evidence),
    ])  # fmt: skip


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
    evidence: tuple[ToolEvidence, ...] = ()  # what the run's tools returned


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
            task = Prompt.load(use_case.prompts / "task.md")
            # a use case judged criterion by criterion needs no holistic policy file
            policy = load_policy(use_case.prompts) if use_case.criteria is None else None
            self.judging = (env.judge, task, policy)

    async def run(self, event: Mapping[str, Any], call: CallContext) -> Processed[OutputT]:
        use_case = self.use_case
        await self.env.tenants.require(call)
        result = await self.agent.run(event, call)
        record, evidence = result.record, list(result.evidence)
        output: OutputT = result.output
        if use_case.resolve is not None:  # the model chose; code copies what it chose
            output = use_case.resolve(result.output, evidence, event)
        with self.tracer.start_as_current_span(f"guardrails {use_case.name}") as span:
            checked = run_checks(use_case, output, evidence, event, record)
            output, checks = checked.output, checked.results  # parts demoted (see run_checks)
            value = {**common_fields(event, record), **use_case.to_output(event, output, evidence)}
            decision = after_checks(checks)
            # the judge reads a model's answer; code's answer from memory (no model call)
            # rests on a result judged when it was learned and on this run's ledger reads
            if decision is None and self.judging is not None and record.model_calls:
                judge, task, policy = self.judging
                verdict = await judge.evaluate(
                    task=task, event=event, output=to_json(value), evidence=evidence,
                    policy=policy, criteria=use_case.criteria,
                )  # fmt: skip
                decision = from_judge(verdict)
            decision = decision or Decision("pass", [])
            span.set_attribute("daemons.guardrail.verdict", decision.verdict)
            judged = self.env.judge is not None and bool(record.model_calls)
            judge_model = self.env.judge.name if judged and self.env.judge else "none"
            span.set_attribute("daemons.guardrail.judge_model", judge_model)
        if decision.verdict == "pass" and use_case.write_back is not None:
            output = await self._write_back(event, output, call, evidence, record, decision, checks)
            value = {**common_fields(event, record), **use_case.to_output(event, output, evidence)}
        return Processed(output, record, checks, decision, value, tuple(evidence))

    async def _write_back(
        self, event: Mapping[str, Any], output: OutputT, call: CallContext,
        evidence: Sequence[ToolEvidence], record: RunRecord, decision: Decision,
        checks: list[CheckResult],
    ) -> OutputT:  # fmt: skip
        """The write, retried by itself on a transient failure (the paid agent run is not
        redone for it; the write is idempotent by event id). When it still fails, the event
        is dead-lettered with the run's record and outcome (:class:`WriteBackFailed`)."""
        assert self.use_case.write_back is not None
        # a flagged read of the run refuses every write
        writes = tool_caller(self.writable, call, record, self.tracer, evidence=evidence)
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
        outcome = outcome_datum(event, record, Decision("fail", [why]), checks)
        raise WriteBackFailed(why, record=record, outcome=outcome) from failure


def common_fields(event: Mapping[str, Any], record: RunRecord) -> dict[str, Any]:
    return {
        "event_id": event["event_id"],
        "tenant_id": event["tenant_id"],
        "principal_id": event["principal_id"],
        "occurred_at": dt.datetime.now(dt.UTC),
        "output_id": "",  # filled by the runtime: deterministic per (event, topic, index)
        "run_id": record.run_id,
        "trace_id": record.trace_id,
    }


def outcome_datum(
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
