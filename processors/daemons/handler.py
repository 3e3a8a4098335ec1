"""The Kafka side of an agent daemon: :func:`build_daemon` turns a use case into a runtime
:class:`~processors.runtime.Daemon` whose handler runs the :class:`~.pipeline.Pipeline` and
turns what it decided into outputs — the result (or the held result), the guardrail outcome,
the run record — and a failure into a :class:`~processors.runtime.daemon.HandlerFailed`
carrying the failed run's record."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from processors.agent import RunRecord
from processors.daemons.pipeline import Pipeline, Processed, outcome_datum
from processors.daemons.usecase import Environment, OutputT, UseCase
from processors.errors import DaemonsError, MemoryWriteRefused, WriteBackFailed
from processors.guardrails.notices import dead_letter_notice
from processors.guardrails.routing import (
    REVIEW_TOPIC,
    Decision,
    held_result,
)
from processors.guardrails.screen import screen_memories
from processors.memory.records import TOPIC as MEMORY_TOPIC
from processors.memory.records import SourcePosition
from processors.notify import Notice, NoticeKind, Notifier
from processors.runtime.daemon import Daemon, EventContext, HandlerFailed, Output, RetryPolicy
from processors.runtime.metrics import record_verdict
from processors.tools.evidence import flagged

log = logging.getLogger(__name__)


def topics_written(use_case: UseCase[Any]) -> tuple[str, ...]:
    """Every topic a daemon of ``use_case`` produces to, besides its dead letters: the result,
    held results, guardrail outcomes and run records (the deploy's ACLs are made from this)."""
    written = (use_case.output_topic, REVIEW_TOPIC, "guardrails.outcomes", "daemons.runs")
    return (*written, MEMORY_TOPIC) if use_case.remember is not None else written


def build_daemon(use_case: UseCase[OutputT], env: Environment) -> Daemon:
    pipeline = Pipeline(use_case, env)

    async def handle(event: dict[str, Any], ctx: EventContext) -> list[Output]:
        call = ctx.call.model_copy(update={"run_id": uuid.uuid4().hex})  # one type, decode to HTTP
        try:
            done = await pipeline.run(event, call)
        except DaemonsError as exc:  # a limit, a model's or a provider's failure
            if exc.record is None:  # no run started (a config or tenant error): as it is
                raise
            extra = [Output("daemons.runs", exc.record.to_avro())]  # the run's trace too
            if isinstance(exc, WriteBackFailed):  # and its outcome, with the reason
                extra.insert(0, Output("guardrails.outcomes", dict(exc.outcome)))
            raise HandlerFailed(exc, extra) from exc
        record, decision = done.record, done.decision
        record_verdict(use_case.name, decision.verdict)
        _notify(env.notifier, use_case.name, event, record, decision)
        outputs: list[Output] = []
        outcome = outcome_datum(event, record, decision, done.checks)
        if decision.verdict == "pass":
            outputs.append(Output(use_case.output_topic, done.value))
            outputs.extend(_memories(use_case, ctx, done, outcome))
        elif decision.verdict == "needs_review":
            held = held_result(
                event=event, daemon=use_case.name, target_topic=use_case.output_topic,
                value=done.value, decision=decision, run_id=record.run_id,
                trace_id=record.trace_id,
            )  # fmt: skip
            outputs.append(Output(REVIEW_TOPIC, held))
        outputs.append(Output("guardrails.outcomes", outcome))
        outputs.append(Output("daemons.runs", record.to_avro()))
        return outputs

    return Daemon(
        name=use_case.name,
        inputs=(use_case.input_topic,),
        outputs=topics_written(use_case),
        handler=handle,
        retry=RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=30.0),
        on_dead_letter=dead_letter_notice(env.notifier) if env.notifier else None,
    )


def _memories(
    use_case: UseCase[Any], ctx: EventContext, done: Processed[Any], outcome: dict[str, Any]
) -> list[Output]:
    """What a passed result teaches, published with it (atomically, in ``--mode eos``): code
    writes memory, never the model, and never from a run whose tool results were flagged (a
    flag holds the run for review today; looked at again here so that stays true whatever
    the checks become)."""
    if use_case.remember is None or flagged(done.evidence):
        return []
    source = SourcePosition(ctx.topic, ctx.partition, ctx.offset)
    try:
        learned = use_case.remember(done.value, outcome, source)
        screen_memories(learned)  # whatever the mapping: no instruction-like memory
    except MemoryWriteRefused as refused:  # published, but not remembered: say why
        log.info("%s: run %s not remembered (%s)", use_case.name, done.record.run_id,
                 refused.reason)  # fmt: skip
        return []
    return [Output(MEMORY_TOPIC, memory.to_avro()) for memory in learned]


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
