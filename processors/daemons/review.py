"""A person's decision on a held result, for any daemon: :func:`decide` is *the* approve /
reject (the command line's ``daemons review``, and anything else that lets a person decide,
calls it).

An approval publishes the result once, with the reviewer's feedback and what the result
teaches — its use case's :attr:`~processors.daemons.usecase.UseCase.remember`, given the run's
guardrail outcome and the feedback (``approved_by`` ``reviewer:<id>``) — in one transaction
(:func:`processors.guardrails.review.decide`). What may not become memory (its run flagged
instruction-like content, its outcome is gone, a value reads as an instruction) is published
without it, and :attr:`~processors.guardrails.review.Outcome.not_remembered` says why. A
rejection writes no memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from processors.daemons import registry
from processors.errors import ConfigError, MemoryWriteRefused
from processors.guardrails import review
from processors.guardrails.review import Choice, Held, Learn, Outcome
from processors.kafka.clients import Contracts
from processors.memory.records import MemoryRecord
from processors.settings import Settings

OUTCOMES_TOPIC = "guardrails.outcomes"


def decide(
    settings: Settings,
    contracts: Contracts,
    run_id: str,
    decision: Choice,
    *,
    reviewer: str,
    comment: str | None = None,
    corrected: Mapping[str, Any] | None = None,
    timeout: float = 30.0,
) -> Outcome:
    """Approve, reject or correct (``corrected``) the held result of ``run_id`` as
    ``reviewer``, exactly once; an approval or a correction teaches memory what its use case
    remembers of the published datum."""
    return review.decide(
        settings, contracts, run_id, decision, reviewer=reviewer, comment=comment,
        corrected=corrected, timeout=timeout, learn=learner(settings, contracts),
    )  # fmt: skip


def learner(settings: Settings, contracts: Contracts) -> Learn:
    """What an approval teaches, by the held result's use case (found by its daemon's name)."""

    def learn(
        held: Held, approved: Mapping[str, Any], feedback: Mapping[str, Any]
    ) -> Sequence[MemoryRecord]:
        daemon = str(held.record["daemon"])
        try:
            use_case = registry.use_case(daemon)
        except ConfigError as exc:
            raise MemoryWriteRefused(str(exc), reason="unknown_daemon") from exc
        if use_case.remember is None:
            return []
        if held.source is None:
            raise MemoryWriteRefused(f"run {held.run_id}: no position", reason="no_source")
        outcome = run_outcome(settings, contracts, held)
        return use_case.remember(approved, outcome, held.source, feedback=feedback)

    return learn


def run_outcome(settings: Settings, contracts: Contracts, held: Held) -> dict[str, Any]:
    """The held run's ``guardrails.outcomes`` record (what :func:`~processors.memory.writer.
    approval` reads: a run that flagged instruction-like content never becomes memory)."""
    found = [
        o for o in review.read_all(settings, contracts, OUTCOMES_TOPIC)
        if o["run_id"] == held.run_id and o["tenant_id"] == held.record["tenant_id"]
    ]  # fmt: skip
    if not found:
        raise MemoryWriteRefused(
            f"run {held.run_id}: no record on {OUTCOMES_TOPIC} (expired?): who let it in "
            "cannot be told",
            reason="no_outcome",
        )
    return found[-1]
