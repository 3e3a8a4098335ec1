"""Where each in-flight event is, read off the spans it opens and closes.

:class:`ProgressTracker` is an OpenTelemetry span processor: it sees every recorded span start
and end in the daemon process (whatever exporter is configured, or none), and keeps, per
event, the stage it is in, since when, and the model calls finished so far with their tokens.
``daemons run`` serves :meth:`ProgressTracker.snapshot` as JSON at ``GET /progress`` on the
health server, so a watcher (``make demo``) can say what a slow run is doing.

An event is the tree under a *local root*: the runtime's ``process {topic}`` CONSUMER span
(its parent, if any, is the remote producer's), or an ``invoke_agent`` span with no local
parent (an agent run outside the runtime). Its ``event_id`` comes from the ``invoke_agent
{daemon}`` span's ``daemons.event_id`` attribute, so it is ``None`` until the agent starts.

The stage is decided by the innermost open span that means something:

====================  ======================================================================
``received``          only the consumer span is open (decoding, the tenant check)
``gathering``         the agent before its first model call (``detail``: the tool running)
``model call``        the agent's ``chat {model}`` span (``call``: its number in this
                      attempt, ``detail``: the model)
``tools``             the agent between model calls (``detail``: the tool running, if any)
``judge``             the ``guardrails {daemon}`` span: checks, then the judge (``call``
                      and ``detail`` from a ``chat`` span under it, if the judge opens one)
``write back``        a tool call after the guardrails (the result written back)
``retry wait``        the agent run or the guardrails failed: the runtime backs off, then
                      retries or dead-letters
``publish``           the agent is done: the outputs are produced and acknowledged (the
                      runtime records each send as an event of its consumer span, which
                      ends at the last acknowledgement; a ``send {topic}`` PRODUCER span,
                      as other producers make, also shows this stage while open)
====================  ======================================================================

Cheap and bounded: one lock and a few dict operations per span; an event is forgotten when
its root span ends, at most ``max_events`` are tracked (the oldest dropped first), at most
``max_calls`` finished model calls and ``max_open`` open spans are kept per event. Spans the
sampler drops are never seen (``OTEL_SDK_DISABLED=true`` records none, so nothing shows).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import SpanKind, StatusCode

EVENT_ID_ATTRIBUTE = "daemons.event_id"
STAGES = (
    "received", "gathering", "model call", "tools", "judge", "write back", "retry wait", "publish",
)  # fmt: skip

_AGENT, _CHAT, _TOOL, _GUARD, _SEND = "invoke_agent", "chat", "execute_tool", "guardrails", "send"
_KINDS = frozenset({_AGENT, _CHAT, _TOOL, _GUARD, _SEND})


@dataclass
class _Open:
    """One open span of an event that tells its stage."""

    span_id: int
    kind: str  # one of _KINDS, or "" for a span that does not tell the stage
    name: str  # what follows the kind in the span name: the model, tool, daemon or topic
    started: float
    judge: bool = False  # a chat span under the guardrails span


@dataclass
class _Event:
    root: int
    trace_id: int
    topic: str | None
    started: float
    calls: deque[dict[str, Any]]
    event_id: str | None = None
    attempt: int = 0
    open: list[_Open] = field(default_factory=list)
    agent_done: bool = False
    failed: bool = False
    calls_in_attempt: int = 0
    judge_calls: int = 0
    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    stage: tuple[str, str | None, int | None] = ("received", None, None)
    stage_started: float = 0.0
    last_activity: float = 0.0

    def restage(self, at: float) -> None:
        stage = self._derive()
        if stage != self.stage:
            self.stage, self.stage_started = stage, at
        self.last_activity = at

    def _derive(self) -> tuple[str, str | None, int | None]:
        in_agent = any(o.kind == _AGENT for o in self.open)
        for o in reversed(self.open):
            if o.kind == _CHAT:
                if o.judge:
                    return "judge", o.name, self.judge_calls
                return "model call", o.name, self.calls_in_attempt
            if o.kind == _TOOL:
                if not in_agent:
                    return "write back", o.name, None
                return ("gathering" if self.calls_in_attempt == 0 else "tools"), o.name, None
            if o.kind == _GUARD:
                return "judge", None, None
            if o.kind == _SEND:
                return "publish", None, None
            if o.kind == _AGENT:
                return ("gathering" if self.calls_in_attempt == 0 else "tools"), None, None
        if self.failed:
            return "retry wait", None, None
        if self.agent_done:
            return "publish", None, None
        return "received", None, None

    def as_json(self) -> dict[str, Any]:
        stage, detail, call = self.stage
        return {
            "event_id": self.event_id,
            "trace_id": f"{self.trace_id:032x}",
            "topic": self.topic,
            "stage": stage,
            "detail": detail,
            "call": call,
            "stage_started": self.stage_started,
            "started": self.started,
            "last_activity": self.last_activity,
            "attempt": self.attempt,
            "model_calls": self.model_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "calls": list(self.calls),
        }


def _seconds(ns: int | None, clock: Callable[[], float]) -> float:
    return ns / 1e9 if ns is not None else clock()


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


class ProgressTracker(SpanProcessor):
    """Tracks the stage of every in-flight event from its spans; see the module docstring.

    Thread-safe: spans start and end on the event loop and on worker threads while the
    health server's thread reads :meth:`snapshot`.
    """

    def __init__(
        self,
        *,
        max_events: int = 256,
        max_calls: int = 64,
        max_open: int = 64,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_events, self.max_calls, self.max_open = max_events, max_calls, max_open
        self._clock = clock
        self._lock = threading.Lock()
        self._events: dict[int, _Event] = {}  # root span id -> event, oldest first
        self._owner: dict[int, int] = {}  # open span id -> its event's root span id

    # ---- the span processor -------------------------------------------------------------

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        ctx, parent = span.context, span.parent
        if ctx is None:
            return
        kind, _, name = span.name.partition(" ")
        if kind not in _KINDS or (kind == _SEND and span.kind != SpanKind.PRODUCER):
            kind = ""
        at = _seconds(span.start_time, self._clock)
        with self._lock:
            if parent is None or parent.is_remote:
                if span.kind != SpanKind.CONSUMER and kind != _AGENT:
                    return  # not an event (start-up HTTP calls and the like)
                topic = name if span.kind == SpanKind.CONSUMER else None
                calls: deque[dict[str, Any]] = deque(maxlen=self.max_calls)
                event = _Event(ctx.span_id, ctx.trace_id, topic, at, calls, stage_started=at)
                self._events[ctx.span_id] = event
                self._owner[ctx.span_id] = ctx.span_id
                self._evict()
                opened = _Open(ctx.span_id, kind if kind == _AGENT else "", name, at)
            else:
                root = self._owner.get(parent.span_id)
                tracked = self._events.get(root) if root is not None else None
                if tracked is None or len(tracked.open) >= self.max_open:
                    return
                event = tracked
                self._owner[ctx.span_id] = event.root
                opened = _Open(ctx.span_id, kind, name, at)
                if kind == _CHAT:
                    opened.judge = any(o.kind == _GUARD for o in event.open)
                    if opened.judge:
                        event.judge_calls += 1
                    else:
                        event.calls_in_attempt += 1
            event.open.append(opened)
            if opened.kind == _AGENT:
                event.attempt += 1
                event.calls_in_attempt = 0
                event.agent_done = event.failed = False
                found = (span.attributes or {}).get(EVENT_ID_ATTRIBUTE)
                if isinstance(found, str) and found:
                    event.event_id = found
            event.restage(at)

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None:
            return
        at = _seconds(span.end_time, self._clock)
        with self._lock:
            root = self._owner.pop(ctx.span_id, None)
            event = self._events.get(root) if root is not None else None
            if event is None:
                return
            if ctx.span_id == event.root:
                self._forget(event)
                return
            closed = next((o for o in event.open if o.span_id == ctx.span_id), None)
            if closed is None:
                return
            event.open.remove(closed)
            failed = span.status.status_code == StatusCode.ERROR
            if closed.kind == _AGENT:
                event.agent_done, event.failed = True, failed
            elif closed.kind == _GUARD:
                event.failed = event.failed or failed
            elif closed.kind == _CHAT:
                attributes = span.attributes or {}
                tokens_in = _int(attributes.get("gen_ai.usage.input_tokens"))
                tokens_out = _int(attributes.get("gen_ai.usage.output_tokens"))
                cached = _int(attributes.get("gen_ai.usage.cache_read.input_tokens"))
                event.model_calls += 1
                event.input_tokens += tokens_in
                event.output_tokens += tokens_out
                event.calls.append({
                    "model": closed.name, "judge": closed.judge, "input_tokens": tokens_in,
                    "cached_input_tokens": cached, "output_tokens": tokens_out,
                    "seconds": round(at - closed.started, 3),
                    "failed": failed,
                })  # fmt: skip
            event.restage(at)

    def shutdown(self) -> None:
        with self._lock:
            self._events.clear()
            self._owner.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    # ---- what /progress serves ----------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """``{"now": unix time, "events": [...]}``, oldest event first; each event with
        ``event_id`` (``None`` before its agent starts), ``trace_id``, ``topic``, ``stage``,
        ``detail`` (model or tool), ``call``, ``stage_started``, ``started``,
        ``last_activity`` (unix times), ``attempt``, ``model_calls`` (finished),
        ``input_tokens`` / ``output_tokens`` (of the finished calls) and ``calls`` (each
        finished call's ``model``, ``judge``, tokens, ``seconds``, ``failed``)."""
        with self._lock:
            events = [event.as_json() for event in self._events.values()]
        return {"now": self._clock(), "events": events}

    # ---- bounds ---------------------------------------------------------------------------

    def _forget(self, event: _Event) -> None:
        self._events.pop(event.root, None)
        for o in event.open:
            self._owner.pop(o.span_id, None)
        self._owner.pop(event.root, None)

    def _evict(self) -> None:
        while len(self._events) > self.max_events:
            self._forget(self._events[next(iter(self._events))])
