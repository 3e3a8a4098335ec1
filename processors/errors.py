"""The project's exception tree. Every error we raise on purpose is one of these.

    DaemonsError
    ├── ConfigError              bad settings, missing tool (java, mvn), unknown daemon
    │   └── ModelIntegrityError      a local model file's size or SHA-256 is not the official one
    ├── BrokerError              the local broker failed to start / stop
    ├── RunnerError              a daemon's loop cannot go on (fatal client error, fenced producer)
    ├── CatalogError             topics/ or schemas/ are inconsistent; unknown topic
    ├── SerdeError               bytes we cannot decode / a record we cannot encode
    │   └── SchemaValidationError    a record the schema rejects (names the field)
    ├── MemoryStoreError         a memory store cannot be opened, or holds another layout
    ├── MemoryWriteRefused       a result that may not become memory (not passed/approved, flagged)
    ├── TransientError           worth retrying (timeouts, 429/5xx, retriable broker errors)
    │   ├── RateLimited              carries ``retry_after`` seconds when the peer said so
    │   └── ToolUnavailable          a tool kept failing with retryable errors (agent run)
    └── PermanentError           retrying cannot help: dead-letter at once
        ├── BudgetExceeded           an agent run hit its turn/token/cost/time limit
        │   ├── TurnLimitExceeded
        │   ├── TokenLimitExceeded
        │   ├── CostLimitExceeded
        │   └── RunTimedOut
        ├── InvalidAgentOutput       the final answer failed validation after every correction
        ├── ToolRetriesExhausted     a tool kept failing past its per-run retry allowance
        ├── PlanningFailed           no usable plan even after the one re-plan
        ├── ProviderError            an LLM provider refused the request (400/401/403/404/422)
        ├── Unproducible             an output the broker will not take (too large, invalid)
        ├── WriteBackFailed          the checked result could not be written, after retries
        ├── UnknownTenant            the event names a tenant nobody knows
        └── FeedbackRejected         feedback the intake will not publish (docs/feedback.md)
            ├── UnknownRun               names a run no run record on daemons.runs has
            ├── OtherTenantsRun          names a run of another tenant
            └── InvalidCorrection        a correction the daemon's output model rejects

The errors that end an agent run (``ToolUnavailable``, the four limits, ``InvalidAgentOutput``,
``ToolRetriesExhausted``, ``PlanningFailed``) also derive from :class:`AgentRunError`: they
carry ``run_id`` and, once the loop has closed it, the run's decision record (``record``).

The runtime's one error policy (``processors.runtime.policy``) decides what each class means:
``TransientError`` is retried with backoff, everything else is dead-lettered.
"""

from __future__ import annotations

from typing import Any, Protocol


class RunTrace(Protocol):
    """The closed decision record of an agent run, as an error carries it to the dead letter
    (:class:`processors.agent.record.RunRecord`; declared here, structurally, because this
    module sits below the agent)."""

    @property
    def run_id(self) -> str: ...

    def to_avro(self) -> dict[str, Any]: ...


class DaemonsError(Exception):
    """Base of every error this package raises on purpose. An error that ended an agent run
    (a provider's refusal included) carries the run's closed decision ``record``."""

    record: RunTrace | None = None


class ConfigError(DaemonsError):
    """Settings are wrong or a required program is missing."""


class ModelIntegrityError(ConfigError):
    """A local model file is not byte-for-byte the official one (size or SHA-256 differ)."""


class BrokerError(DaemonsError):
    """The local Kafka broker could not be started, reached or stopped."""


class RunnerError(DaemonsError):
    """A daemon's loop cannot go on (fatal producer or consumer error, fenced transactional
    producer); :class:`processors.runtime.runner.Runner` stops."""


class CatalogError(DaemonsError):
    """``topics/`` and ``schemas/`` disagree, or a topic is unknown."""


class SerdeError(DaemonsError):
    """A value could not be encoded or decoded."""


class SchemaValidationError(SerdeError):
    """A record does not match its Avro schema; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MemoryStoreError(DaemonsError):
    """A memory store cannot be opened or used (missing extension, unknown layout)."""


class MemoryWriteRefused(DaemonsError):
    """A result may not become memory: it was neither passed by the guardrails nor approved
    by a reviewer, or its run had a flagged tool result. ``reason`` says which."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class TransientError(DaemonsError):
    """A failure that may go away if the same work is tried again later."""


class RateLimited(TransientError):
    """The peer asked us to slow down; ``retry_after`` is its hint in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(DaemonsError):
    """A failure that retrying cannot fix: the event is dead-lettered at once."""


class BudgetExceeded(PermanentError):
    """An agent run exceeded one of its limits (turns, tokens, cost, wall-clock)."""


class ProviderError(PermanentError):
    """An LLM provider rejected the request in a way retrying cannot fix.

    ``status`` is the HTTP status (400, 401, 403, 404, 422, ...), ``provider`` the model
    string's provider part. The message never contains credentials."""

    def __init__(self, message: str, *, status: int | None = None, provider: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.provider = provider


class Unproducible(PermanentError):
    """An output the broker will not take (too large for the producer or the topic, or
    rejected as invalid): the event is dead-lettered instead, never retried."""


class WriteBackFailed(PermanentError):
    """The checked result could not be written to the system of record, after the write's own
    retries: the event is dead-lettered with its run's ``record`` (the agent is not run again
    for a failed write; redrive the dead letter once the API is back)."""

    def __init__(self, message: str, *, record: RunTrace, outcome: dict[str, object]) -> None:
        super().__init__(message)
        self.record = record
        self.outcome = outcome  # the guardrail outcome of the run, published with the letter


class UnknownTenant(PermanentError):
    """The event names a tenant that the system does not know."""


class AgentRunError(DaemonsError):
    """Base (mixed in) of the errors that end an agent run; carries ``run_id`` and ``record``.

    ``record`` is the closed run record (a ``processors.agent.record.RunRecord``) so the runtime
    can publish the decision trace of a failed run too; it is ``None`` until the loop sets it.
    """

    def __init__(self, message: str, *, run_id: str = "") -> None:
        super().__init__(message)
        self.run_id = run_id
        self.record: RunTrace | None = None


class ToolUnavailable(AgentRunError, TransientError):
    """A tool failed with retryable errors more often than the run allows; try the event later."""


class TurnLimitExceeded(AgentRunError, BudgetExceeded):
    """The run used all its model turns without a valid final response."""


class TokenLimitExceeded(AgentRunError, BudgetExceeded):
    """The run's input + output tokens passed its limit."""


class CostLimitExceeded(AgentRunError, BudgetExceeded):
    """The run's model cost in USD passed its limit."""


class RunTimedOut(AgentRunError, BudgetExceeded):
    """The run's wall-clock time passed its limit."""


class InvalidAgentOutput(AgentRunError, PermanentError):
    """The model's final response kept failing validation after every allowed correction."""


class ToolRetriesExhausted(AgentRunError, PermanentError):
    """A tool kept failing (bad arguments, 4xx) past its per-run retry allowance."""


class PlanningFailed(AgentRunError, PermanentError):
    """The planner produced no usable plan, even after its one re-plan."""


class FeedbackRejected(PermanentError):
    """Feedback the intake will not publish to ``daemons.feedback``: dead-lettered with why
    (the message names the field)."""


class UnknownRun(FeedbackRejected):
    """The feedback names a run no run record on ``daemons.runs`` has."""


class OtherTenantsRun(FeedbackRejected):
    """The feedback's tenant is not the tenant of the run it names."""


class InvalidCorrection(FeedbackRejected):
    """A correction the daemon's output model rejects; the message names each field."""
