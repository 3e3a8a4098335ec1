"""An agent daemon: event → agent run → deterministic checks → output, outcome, run record.

A :class:`UseCase` is data (topics, prompt files, output model, tool allowlist, limits, checks);
:func:`build_daemon` turns it into a runtime :class:`~processors.runtime.Daemon` given an
:class:`Environment` (the model, where tools come from, the tenant directory). Every run
publishes its guardrail outcome to ``guardrails.outcomes`` and its run record to
``daemons.runs``; the result goes to the use case's output topic only when the checks and the
judge (``Environment.judge``, a second model) pass it, to ``guardrails.review`` when it needs
a person (:mod:`processors.guardrails.routing`), and nowhere when it fails.
A failed run's record travels with its dead letter.

The parts, by concept: :mod:`.usecase` (what a user defines), :mod:`.pipeline` (one event
through a use case, without Kafka), :mod:`.write_back` (the code-driven writes) and
:mod:`.handler` (the runtime daemon); this module re-exports them. The guard around every
tool call is below, in :mod:`processors.tools.scoped` (the event's tenant) and the agent's
:class:`~processors.agent.toolbox.ToolBox` (what the tools returned, screened, as evidence).
"""

from __future__ import annotations

from processors.daemons.handler import build_daemon
from processors.daemons.pipeline import (
    WRITE_ATTEMPTS,
    WRITE_BACKOFF_S,
    Pipeline,
    Processed,
    build_agent,
    run_checks,
    write_tools,
)
from processors.daemons.usecase import (
    Checked,
    Checks,
    Environment,
    OutputT,
    Resolve,
    TenantDirectory,
    UseCase,
)

__all__ = [
    "WRITE_ATTEMPTS",
    "WRITE_BACKOFF_S",
    "Checked",
    "Checks",
    "Environment",
    "OutputT",
    "Pipeline",
    "Processed",
    "Resolve",
    "TenantDirectory",
    "UseCase",
    "build_agent",
    "build_daemon",
    "run_checks",
    "write_tools",
]
