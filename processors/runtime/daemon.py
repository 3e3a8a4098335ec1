"""What a daemon is, and what its handler receives and returns."""

from __future__ import annotations

import hashlib
import inspect
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


AsyncHandler = Callable[[dict[str, Any], EventContext], Awaitable[list[Output]]]
PlainHandler = Callable[[dict[str, Any], EventContext], list[Output]]
Handler = AsyncHandler | PlainHandler
"""A handler is an ``async def`` — anything that waits: a model, a tool, a sleep — or a plain
function, for work that never waits (decode, transform, encode). The runtime runs a plain one
inline, with no task of its own per event (:mod:`processors.runtime.eager`)."""


def waits(handler: Handler) -> bool:
    """Whether ``handler`` is asynchronous (an ``async def``, also behind a partial)."""
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


async def call_handler(handler: Handler, event: dict[str, Any], ctx: EventContext) -> list[Output]:
    """Call ``handler`` whichever kind it is. A plain function's result must not be awaitable:
    it would run inline, outside any task of its own (declare it ``async def``)."""
    result = handler(event, ctx)
    if waits(handler):
        return await result  # type: ignore[no-any-return,misc]
    return plain_result(handler, result)


def plain_result(handler: Handler, result: object) -> list[Output]:
    """A plain handler's outputs; a :class:`TypeError` (a defect: dead-lettered) if it returned
    an awaitable, which would run inline, outside any task of its own."""
    if type(result) is list:  # the common case, without the ABC checks below
        return result
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        raise TypeError(
            f"handler {handler!r} is a plain function but returned an awaitable: "
            "declare it async def"
        )
    return result  # type: ignore[return-value]


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
