"""Offline evaluation of a daemon against its labeled cases (``UseCase.evals``).

Each case runs through the daemon's own :class:`~processors.daemons.base.Pipeline` — tenant
check, agent run with OpenAPI tools over real HTTP against a fresh reference ledger API,
deterministic checks, the judge when the environment has one, the write-back — but without
Kafka: the datum the daemon would publish (``None`` when it was withheld or held for review, or
the run failed) goes to the use case's ``score``. A failed run counts as wrong and keeps its
error type.

    run_eval(name, model, cases=...) -> EvalReport      (one run per case, sequential)
    summarize(daemon, model, results) -> EvalReport     (pure aggregation)

``memory`` gives each case a memory store (the daemon then reads memory as with ``daemons run
--memory``): ``benchmarks/recalled_examples.py`` seeds one per case from the *other* cases'
approved answers.

"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from pydantic import SecretStr

from processors.agent import RunRecord
from processors.daemons import registry
from processors.daemons.base import Environment, Pipeline, UseCase
from processors.daemons.environment import ApiTenantDirectory
from processors.daemons.pipeline import outcome_datum
from processors.daemons.usecase import EvalSet, Scorer
from processors.errors import ConfigError, DaemonsError, RunTrace
from processors.feedback.rewards import RewardSpec, reward
from processors.guardrails.judge import Judge
from processors.llm.model import Model
from processors.memory import MemoryStore
from processors.reference import sample_app, serve_in_thread
from processors.tools.auth import HmacCredentialProvider, HmacCredentialSettings
from processors.tools.base import CallContext
from processors.tools.openapi import OpenAPISource, load_document

MemoryFor = Callable[[Mapping[str, Any]], MemoryStore]
"""A labeled case -> the memory store its run reads (the caller closes it)."""
_NOT_PARTS = frozenset({"accuracy", "score", "produced", "fields", "invented", "missed",
                        "written_back"})  # fmt: skip


@dataclass(frozen=True)
class CaseResult:
    """One labeled case: what the scorer said and what the run cost."""

    case_id: str
    verdict: str  # "pass" (checks passed, output published) | "fail" (blocked) | "error"
    score: float  # 0..1, the scorer's accuracy/score
    parts: dict[str, float]  # field / question / aspect -> 0..1
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float = 0.0
    error_type: str | None = None
    error: str | None = None
    failed_checks: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)  # the scorer's full result
    # the run's reward (processors.feedback.rewards), total and parts; None: the run failed
    reward: float | None = None
    reward_parts: dict[str, float | None] = field(default_factory=dict)
    # with a judge: the guardrails' decision ("pass" | "fail" | "needs_review") and why
    decision: str | None = None
    decision_reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EvalReport:
    """Totals over the cases of one daemon and model."""

    daemon: str
    model: str
    cases: list[CaseResult]
    parts: dict[str, float]  # mean per field / question / aspect over the cases scoring it
    part_counts: dict[str, int]
    score: float  # mean case score
    pass_rate: float  # share of cases whose output passed the checks
    input_tokens: int
    output_tokens: int
    median_latency_s: float
    errors: dict[str, int]  # error type -> cases
    part_kind: str = "aspect"  # what ``parts`` are for this daemon: field, question...
    reward: float | None = None  # mean reward over the cases that have one

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)


def reward_spec(use_case: UseCase[Any]) -> RewardSpec:
    """What a run of ``use_case`` is rewarded for: its own spec, else the defaults with its
    answer model (what its model writes)."""
    if use_case.reward is not None:
        return use_case.reward
    return RewardSpec(answer_model=use_case.answer_type or use_case.output_type)


def eval_set(name: str) -> EvalSet:
    """The daemon's labeled cases and scorer; a daemon without any is a clear error."""
    found = registry.use_case(name).evals  # unknown name: ConfigError
    if found is None:
        raise ConfigError(f"daemon {name!r} has no eval set (UseCase.evals)")
    return found


def load_cases(name: str) -> list[dict[str, Any]]:
    """The daemon's labeled cases."""
    return eval_set(name).load()


def case_parts(scored: Mapping[str, Any]) -> dict[str, float]:
    """The scorer's per-field / per-question (``fields``) or per-aspect values as 0..1."""
    if "fields" in scored:
        return {k: float(v) for k, v in scored["fields"].items()}
    return {
        k: float(v)
        for k, v in scored.items()
        if k not in _NOT_PARTS and isinstance(v, bool | int | float)
    }


def case_score(scored: Mapping[str, Any]) -> float:
    return float(scored["accuracy"] if "accuracy" in scored else scored["score"])


def summarize(
    daemon: str, model: str, results: Sequence[CaseResult], part_kind: str = "aspect"
) -> EvalReport:
    """Aggregate case results (pure)."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for r in results:
        for k, v in r.parts.items():
            sums[k] = sums.get(k, 0.0) + v
            counts[k] = counts.get(k, 0) + 1
    errors: dict[str, int] = {}
    for r in results:
        if r.error_type:
            errors[r.error_type] = errors.get(r.error_type, 0) + 1
    n = len(results)
    rewards = [r.reward for r in results if r.reward is not None]
    return EvalReport(
        daemon=daemon,
        model=model,
        cases=list(results),
        parts={k: sums[k] / counts[k] for k in sums},
        part_counts=counts,
        score=sum(r.score for r in results) / n if n else 0.0,
        pass_rate=sum(r.verdict == "pass" for r in results) / n if n else 0.0,
        input_tokens=sum(r.input_tokens for r in results),
        output_tokens=sum(r.output_tokens for r in results),
        median_latency_s=statistics.median(r.latency_s for r in results) if n else 0.0,
        errors=errors,
        part_kind=part_kind,
        reward=statistics.fmean(rewards) if rewards else None,
    )


def run_eval(
    name: str,
    model: Model,
    *,
    cases: Sequence[Mapping[str, Any]],
    limit: int | None = None,
    memory: MemoryFor | None = None,
    judge: Judge | None = None,
) -> EvalReport:
    """Run ``name``'s agent with ``model`` on each case (the first ``limit``) and score it;
    with ``memory``, each case's run reads the store it gives for the case; with ``judge``, a
    result the judge fails or holds counts as not published."""
    use_case, evals = registry.use_case(name), eval_set(name)
    chosen = list(cases)[:limit] if limit is not None else list(cases)

    async def run_all() -> list[CaseResult]:
        return [
            await run_case(use_case, model, case, evals.score,
                           memory=memory(case) if memory is not None else None, judge=judge)
            for case in chosen
        ]  # fmt: skip

    return summarize(name, model.name, asyncio.run(run_all()), evals.part_kind)


async def run_case(
    use_case: UseCase[Any],
    model: Model,
    case: Mapping[str, Any],
    scorer: Scorer,
    memory: MemoryStore | None = None,
    judge: Judge | None = None,
) -> CaseResult:
    """One case against a fresh reference API (upserts mutate its in-memory ledger)."""
    key = secrets.token_urlsafe(24)
    with serve_in_thread(sample_app(key.encode())) as url:
        async with httpx.AsyncClient() as client:
            credentials = HmacCredentialProvider(HmacCredentialSettings(key=SecretStr(key)))
            document = await asyncio.to_thread(load_document, f"{url}/openapi.json")
            source = OpenAPISource(document, base_url=url, client=client, credentials=credentials)
            env = Environment(
                model=model, tool_sources=[source], tenants=ApiTenantDirectory(source["getClient"]),
                memory=memory, judge=judge,
            )  # fmt: skip
            return await _run(use_case, env, case, scorer)


async def _run(
    use_case: UseCase[Any], env: Environment, case: Mapping[str, Any], scorer: Scorer
) -> CaseResult:
    event: Mapping[str, Any] = case["event"]
    call = CallContext(
        tenant_id=event["tenant_id"], principal_id=event["principal_id"],
        event_id=event["event_id"], run_id=uuid.uuid4().hex,
    )  # fmt: skip
    pipeline = Pipeline(use_case, env)
    started = time.monotonic()
    try:
        done = await pipeline.run(event, call)
    except DaemonsError as exc:
        return _failed(case, scorer, exc, exc.record, time.monotonic() - started)
    passed = done.decision.verdict == "pass"
    scored = scorer(case, done.value if passed else None)
    totals = done.record.totals
    outcome = outcome_datum(event, done.record, done.decision, done.checks)
    earned = reward(reward_spec(use_case), done.record.to_avro(), outcome)
    return CaseResult(
        case_id=str(case["id"]),
        verdict="pass" if passed else "fail",
        score=case_score(scored),
        parts=case_parts(scored),
        input_tokens=totals.input_tokens,
        output_tokens=totals.output_tokens,
        latency_s=time.monotonic() - started,
        failed_checks=[f"{c.name}: {c.detail}" for c in done.checks if not c.passed],
        detail=scored,
        reward=earned.total,
        reward_parts=earned.parts,
        decision=done.decision.verdict if env.judge is not None else None,
        decision_reasons=list(done.decision.reasons) if env.judge is not None else [],
    )


def _failed(
    case: Mapping[str, Any],
    scorer: Scorer,
    exc: DaemonsError,
    record: RunTrace | None,
    latency: float,
) -> CaseResult:
    scored = scorer(case, None)
    totals = record.totals if isinstance(record, RunRecord) else None
    return CaseResult(
        case_id=str(case["id"]),
        verdict="error",
        score=case_score(scored),
        parts=case_parts(scored),
        input_tokens=totals.input_tokens if totals else 0,
        output_tokens=totals.output_tokens if totals else 0,
        latency_s=latency,
        error_type=type(exc).__name__,
        error=str(exc)[:300],
        detail=scored,
    )
