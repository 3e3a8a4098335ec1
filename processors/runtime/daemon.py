"""What a daemon is, and what its handler receives and returns."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import Span

from processors.context import CallContext


def output_id(event_id: str, topic: str, index: int = 0) -> str:
    """The deterministic id of output ``index`` of an event on (logical) ``topic``: the same
    on every redelivery, so downstream can deduplicate."""
    return hashlib.sha256(f"{event_id}\x00{topic}\x00{index}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class EventContext:
    """Everything a handler may know about the event besides its value. Ids only: the
    principal's credentials are minted by tools at call time, never carried here."""

    daemon: str
    call: CallContext  # who the event acts for, from decode to the tools' HTTP calls
    topic: str  # logical topic name
    partition: int
    offset: int
    key: bytes | None
    attempt: int  # 1 for the first try
    span: Span  # the `process {topic}` consumer span; work nests under it

    @property
    def tenant_id(self) -> str:
        return self.call.tenant_id

    @property
    def principal_id(self) -> str:
        return self.call.principal_id

    @property
    def event_id(self) -> str:
        return self.call.event_id


@dataclass(frozen=True)
class Output:
    """A record to publish: ``topic`` is a logical catalog name; the key comes from the
    topic's key rule unless given. ``value`` must match the topic's schema."""

    topic: str
    value: dict[str, Any]
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()


Handler = Callable[[dict[str, Any], EventContext], Awaitable[list[Output]]]


class HandlerFailed(Exception):
    """A handler's failure with the records to publish beside its dead letter (the failed
    run's record, its guardrail outcome). The one error policy decides by ``cause``; the dead
    letter names ``cause``'s type and message."""

    def __init__(self, cause: BaseException, outputs: Sequence[Output]) -> None:
        super().__init__(str(cause))
        self.cause = cause
        self.outputs = tuple(outputs)


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures are retried before the event is dead-lettered."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0


@dataclass(frozen=True)
class Daemon:
    """A named unit of work: one consumer group reading ``inputs`` and calling ``handler``.

    Several processes running the same daemon share its partitions (same ``group_id``).
    """

    name: str
    inputs: tuple[str, ...]
    handler: Handler
    outputs: tuple[str, ...] = ()
    group_id: str = ""
    dead_letter_topic: str = ""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Called with each DeadLetter datum and the error (e.g. to notify the team); must not raise.
    on_dead_letter: Callable[[Mapping[str, Any], BaseException], None] | None = None

    def __post_init__(self) -> None:
        if not self.group_id:
            object.__setattr__(self, "group_id", self.name)
        if not self.dead_letter_topic:
            object.__setattr__(self, "dead_letter_topic", dead_letter_topic(self.name))


def dead_letter_topic(daemon: str) -> str:
    """A daemon's dead-letter topic unless it names another: ``<daemon>.dlq``."""
    return f"{daemon}.dlq"
