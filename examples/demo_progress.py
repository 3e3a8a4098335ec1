"""What ``make demo`` knows about each event and how it says it (pure, no I/O).

An :class:`EventRow` per input event goes ``queued`` → ``waiting`` (sent) → one of
:data:`FINAL` as its records come back from Kafka; in flight, it also holds what its daemon
says it is doing.

Each daemon process serves ``GET /progress`` (:mod:`processors.telemetry.progress`): per
in-flight event, its stage (``gathering``, ``model call``, ``judge``, ``publish``, …), since
when, and the model calls finished so far. The local model server's ``GET /health`` may add
``rates``: the prompt and generated tokens per second of its recent completions. From those
the demo guesses how long the running model call still needs:

- the prompt: a later turn of the same run reads at least the previous turn's prompt and
  answer; a first turn about what other events' first turns read (the same daemon's if any);
- the answer: the median of the finished calls of that model;
- the speed: the server's measured rates, else seconds per prompt token of the finished calls
  (their answers included).

The judge's model calls open no span of their own, so a judge stage is estimated from how
long the earlier events' judge stages took.

Nothing known (the run's first call): no estimate. Tested in ``tests/test_demo.py``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

from processors.agent.chat import request_model

MODEL_STAGES = ("model call", "judge")
FINAL = ("result", "withheld", "review", "dead letter")
"""An event's final states: each means the pipeline did its work, whatever the verdict."""


@dataclass(frozen=True)
class Call:
    """One finished model call."""

    model: str
    judge: bool
    input_tokens: int
    output_tokens: int
    seconds: float
    cached_tokens: int = 0  # of input_tokens, read from the server's prompt cache

    @property
    def computed(self) -> int:
        """Prompt tokens the server had to compute (a cached one costs next to nothing)."""
        return max(0, self.input_tokens - self.cached_tokens)


@dataclass(frozen=True)
class Stage:
    """One event's entry in a daemon's ``/progress``, its times on this process's
    ``time.monotonic`` clock (``since``: the stage began; ``started``: the daemon took it)."""

    name: str
    detail: str | None  # the model (model call, judge) or tool (gathering, tools, write back)
    call: int | None
    since: float
    started: float
    attempt: int
    model_calls: int
    input_tokens: int
    output_tokens: int
    calls: tuple[Call, ...] = ()
    activity: float = 0.0  # the daemon's own clock: changes with every span start or end

    @property
    def key(self) -> tuple[object, ...]:
        """Equal keys: nothing happened in between (no stage change, no span)."""
        return self.name, self.detail, self.call, self.attempt, self.activity


@dataclass(frozen=True)
class Rates:
    """Tokens per second a model server measured over its recent completions."""

    prompt_per_s: float | None
    generated_per_s: float | None


@dataclass(frozen=True)
class Estimate:
    """The running model call: the prompt it likely reads, and how long it likely takes."""

    prompt_tokens: int | None
    seconds: float | None


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _call(c: Mapping[str, Any]) -> Call:
    tokens_in, tokens_out = _number(c.get("input_tokens")), _number(c.get("output_tokens"))
    model, judge = str(c.get("model", "")), bool(c.get("judge"))
    cached = int(_number(c.get("cached_input_tokens")))
    return Call(model, judge, int(tokens_in), int(tokens_out), _number(c.get("seconds")), cached)


def parse_progress(body: Mapping[str, Any], polled_at: float) -> dict[str, Stage]:
    """A daemon's ``/progress`` answer by event id (events not identified yet left out); its
    unix times turned into ``polled_at``'s clock."""
    now = _number(body.get("now"))

    def here(value: object) -> float:
        return polled_at - (now - _number(value))

    stages: dict[str, Stage] = {}
    for event in body.get("events") or []:
        event_id = event.get("event_id")
        if not isinstance(event_id, str) or not event_id:
            continue
        calls = tuple(_call(c) for c in event.get("calls") or [])
        call = event.get("call")
        stages[event_id] = Stage(
            name=str(event.get("stage", "?")),
            detail=str(event["detail"]) if event.get("detail") else None,
            call=int(call) if isinstance(call, int) else None,
            since=here(event.get("stage_started")),
            started=here(event.get("started")),
            attempt=int(_number(event.get("attempt"))),
            model_calls=int(_number(event.get("model_calls"))),
            input_tokens=int(_number(event.get("input_tokens"))),
            output_tokens=int(_number(event.get("output_tokens"))),
            calls=calls,
            activity=_number(event.get("last_activity")),
        )
    return stages


def parse_rates(body: object) -> Rates | None:
    """The ``rates`` of a local model server's ``/health`` answer, if it measured any."""
    rates = body.get("rates") if isinstance(body, Mapping) else None
    if not isinstance(rates, Mapping):
        return None

    def rate(name: str) -> float | None:
        value = rates.get(name)
        return float(value) if isinstance(value, int | float) and value > 0 else None

    found = Rates(rate("prompt_tokens_per_s"), rate("generated_tokens_per_s"))
    return found if found.prompt_per_s or found.generated_per_s else None


def estimate_call(
    stage: Stage,
    daemon: str,
    others: Sequence[tuple[str, Sequence[Call]]],
    rates: Rates | None,
) -> Estimate | None:
    """The running model call of ``stage`` (None when the stage is no model call):
    ``others`` are the finished calls of the other events, with their daemon."""
    if stage.name not in MODEL_STAGES or not stage.detail:
        return None
    model, judge = stage.detail, stage.name == "judge"

    def same(calls: Sequence[Call]) -> list[Call]:
        return [c for c in calls if c.model == model and c.judge == judge]

    here = same(stage.calls)
    elsewhere = [(d, same(calls)) for d, calls in others]
    finished = here + [c for _d, calls in elsewhere for c in calls]
    # (prompt tokens, of them to compute): the server computes only what its cache lacks
    if judge:  # each judge call reads the task, the result and the evidence afresh
        sizes = [(c.input_tokens, c.computed) for c in finished]
    elif here:  # the conversation grows: at least the last prompt and its answer
        grown = here[-1].input_tokens + here[-1].output_tokens
        sizes = [(grown, grown)]  # how much of it the cache holds is not known yet
    else:  # a first turn: like the other events' first turns, this daemon's if it had any
        firsts = [calls[0] for d, calls in elsewhere if calls and d == daemon]
        firsts = firsts or [calls[0] for _d, calls in elsewhere if calls]
        sizes = [(c.input_tokens, c.computed) for c in firsts]
    prompt = round(median(s for s, _ in sizes)) if sizes else None
    if prompt is None or not finished:
        return Estimate(prompt, None)
    computed = median(c for _, c in sizes)
    answer = median(c.output_tokens for c in finished)
    if rates is not None and rates.prompt_per_s and rates.generated_per_s:
        return Estimate(prompt, computed / rates.prompt_per_s + answer / rates.generated_per_s)
    read = sum(c.input_tokens for c in finished)
    seconds = prompt * sum(c.seconds for c in finished) / read if read else None
    return Estimate(prompt, seconds)


def duration(seconds: float) -> str:
    """``34 s``, ``2m 05s``."""
    whole = max(0, round(seconds))
    return f"{whole} s" if whole < 120 else f"{whole // 60}m {whole % 60:02d}s"


def stage_label(stage: Stage) -> str:
    """The stage in a few words: ``model call 2``, ``judge``, ``gathering``."""
    if stage.name == "model call" and stage.call:
        return f"model call {stage.call}"
    if stage.name == "judge" and stage.call and stage.call > 1:
        return f"judge call {stage.call}"
    return stage.name


def stage_note(stage: Stage, now: float, estimate: Estimate | None) -> str:
    """What goes in parentheses after the stage: ``≈1650 prompt tokens, 34 s, est. ~20 s
    left``; the tool or the judge's model, the attempt when it is not the first."""
    parts: list[str] = []
    if stage.detail and (stage.name == "judge" or stage.name not in MODEL_STAGES):
        parts.append(stage.detail)
    if stage.attempt > 1:
        parts.append(f"attempt {stage.attempt}")
    if estimate is not None and estimate.prompt_tokens is not None:
        parts.append(f"≈{estimate.prompt_tokens} prompt tokens")
    elapsed = now - stage.since
    parts.append(duration(elapsed))
    if estimate is not None and estimate.seconds is not None:
        left = estimate.seconds - elapsed
        if left >= 1:
            parts.append(f"est. ~{duration(left)} left")
        else:
            parts.append(f"over its ~{duration(estimate.seconds)} estimate")
    return ", ".join(parts)


# ---- one event -----------------------------------------------------------------------------


@dataclass
class EventRow:
    """One input event: what came back for it, and (in flight) what its daemon says it is
    doing. ``state``: ``queued``, ``waiting`` (sent), then one of :data:`FINAL`."""

    daemon: str
    event_id: str
    tenant_id: str
    summary: str
    sent_at: float | None = None
    state: str = "queued"
    verdict: str = ""
    done_at: float | None = None
    output: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    run: dict[str, Any] | None = None
    dead_letter: dict[str, Any] | None = None
    shown: bool = False
    stage: Stage | None = None  # its entry in the daemon's /progress, last time it was there
    left_daemon: bool = False  # was in /progress, is no more: its records are on the way
    last_change: float | None = None  # when something last happened to it (sent, span, record)
    noted: str = ""  # the stage last printed as a progress line (not on a terminal)
    noted_at: float = 0.0
    judge_seconds: float | None = None  # how long its judge stage took, when it was seen

    @property
    def in_flight(self) -> bool:
        return self.sent_at is not None and self.state not in FINAL

    @property
    def tokens(self) -> tuple[int, int]:
        if self.run is None:
            if self.stage is not None:  # so far: the model calls finished
                return self.stage.input_tokens, self.stage.output_tokens
            return 0, 0
        calls = self.run.get("model_calls") or []  # a failed run's totals may be left at 0
        tin = max(int(self.run.get("input_tokens", 0)), sum(c["input_tokens"] for c in calls))
        tout = max(int(self.run.get("output_tokens", 0)), sum(c["output_tokens"] for c in calls))
        return tin, tout

    def seconds(self, now: float) -> float:
        if self.sent_at is None:
            return 0.0
        return (self.done_at if self.done_at is not None else now) - self.sent_at

    def sent(self, now: float) -> None:
        self.sent_at, self.state, self.last_change = now, "waiting", now

    def observe(self, stage: Stage | None, now: float) -> None:
        """What its daemon's ``/progress`` says now (``None``: the event is not in it)."""
        if stage is None:
            if self.stage is not None and not self.left_daemon:
                self.left_daemon, self.last_change = True, now
            return
        if self.stage is None or stage.key != self.stage.key or self.left_daemon:
            self.last_change = now
        if self.stage is not None and self.stage.name == "judge" and stage.name != "judge":
            self.judge_seconds = stage.since - self.stage.since
        self.stage, self.left_daemon = stage, False

    @property
    def label(self) -> str:
        """The state, or for an event in flight the stage it is in."""
        if not self.in_flight:
            return self.state
        if self.left_daemon:
            return "published"
        return stage_label(self.stage) if self.stage is not None else "sent"

    def calls(self) -> list[Call]:
        """Its finished model calls: the run record's (the executor's, all of them) once it
        is in, with the judge's from the daemon's progress."""
        seen = list(self.stage.calls) if self.stage is not None else []
        if self.run is None:
            return seen
        recorded = [
            Call(request_model(str(c.get("model", ""))), False, int(c.get("input_tokens", 0)),
                 int(c.get("output_tokens", 0)), float(c.get("latency_ms", 0.0)) / 1000)
            for c in self.run.get("model_calls") or []
        ]  # fmt: skip
        return recorded + [c for c in seen if c.judge]

    def ready(self, now: float, grace: float = 5.0) -> bool:
        """Finished, and its run record is in (a dead letter's may trail it a little)."""
        if self.done_at is None:
            return False
        return self.run is not None or now - self.done_at > grace

    def absorb(self, kind: str, value: dict[str, Any], now: float) -> None:
        """Record one consumed datum: ``output``, ``outcome``, ``run`` or ``dlq``."""
        self.last_change = now
        if kind == "output":
            self.output = value
        elif kind == "outcome":
            self.outcome = value
            self.verdict = str(value.get("verdict", ""))
        elif kind == "run":
            self.run = value
        elif kind == "dlq":
            self.dead_letter = value
        if self.dead_letter is not None:
            self.state = "dead letter"
        elif self.outcome is not None and self.run is not None:
            if self.verdict == "needs_review":
                self.state = "review"
            elif self.verdict != "pass":
                self.state = "withheld"
            elif self.output is not None:  # a passing result is done once it is published
                self.state = "result"
        if self.state in FINAL and self.done_at is None:
            self.done_at = now


# ---- in flight: progress lines and stuck events ----------------------------------------------


def estimate_for(
    row: EventRow, rows: Iterable[EventRow], rates: Mapping[str, Rates]
) -> Estimate | None:
    """The estimate of ``row``'s running model call, from everything finished so far and the
    measured ``rates`` by model name; of its judge stage, from the earlier judge stages."""
    if row.stage is None or row.left_daemon or not row.in_flight:
        return None
    rows = list(rows)
    if row.stage.name == "judge" and not row.stage.detail:  # the judge's calls have no span:
        took = [r.judge_seconds for r in rows if r.judge_seconds is not None]  # earlier stages
        return Estimate(None, median(took)) if took else None
    others = [(r.daemon, r.calls()) for r in rows if r is not row]
    return estimate_call(row.stage, row.daemon, others, rates.get(row.stage.detail or ""))


def progress_note(row: EventRow, now: float, estimate: Estimate | None) -> str:
    """What an event in flight is doing, for the table's last column and progress lines."""
    if not row.in_flight:
        return ""
    if row.left_daemon:
        return "reading its records"
    if row.stage is None:
        return f"waiting for the daemon to take it, {duration(row.seconds(now))}"
    return stage_note(row.stage, now, estimate)


def progress_line(row: EventRow, now: float, estimate: Estimate | None) -> str:
    """``vendor-enrichment evt-vd-0002: model call 2 (≈1650 prompt tokens, 34 s, est. ~20 s
    left); 74 s since sent, 1 model call done, 1653/90 tokens``."""
    line = f"{row.daemon} {row.event_id}: {row.label} ({progress_note(row, now, estimate)})"
    line += f"; {duration(row.seconds(now))} since sent"
    if row.stage is not None and row.stage.model_calls:
        done = row.stage.model_calls
        tin, tout = row.tokens
        line += f", {done} model call{'s' if done != 1 else ''} done, {tin}/{tout} tokens"
    return line


def due_lines(rows: Iterable[EventRow], now: float, every: float) -> list[EventRow]:
    """The events in flight whose progress line is due (its stage changed, or ``every``
    seconds passed since the last one); marks them as noted."""
    due = []
    for row in rows:
        if row.in_flight and (row.label != row.noted or now - row.noted_at >= every):
            row.noted, row.noted_at = row.label, now
            due.append(row)
    return due


def stuck(rows: Iterable[EventRow], now: float, after: float) -> list[EventRow]:
    """The events in flight with nothing new (no stage change, no span, no record) for more
    than ``after`` seconds."""
    return [
        r for r in rows if r.in_flight and r.last_change is not None and now - r.last_change > after
    ]


def render_stuck(row: EventRow, now: float, checks: Sequence[str]) -> list[str]:
    """What is stuck and why we think so, then what was found when we looked (``checks``)."""
    quiet = duration(now - (row.last_change if row.last_change is not None else now))
    if row.stage is not None and not row.left_daemon:
        model = f" ({row.stage.detail})" if row.stage.detail else ""
        where = f"in {row.label}{model} for {duration(now - row.stage.since)}"
    elif row.left_daemon:
        where = "published by its daemon, but its records have not all come back"
    else:
        where = "not taken by its daemon (never in its /progress)"
    lines = [
        f"   {row.daemon} {row.event_id} ({_short(row.summary, 40)}): {where}; nothing new for"
        f" {quiet}; sent {duration(row.seconds(now))} ago",
    ]
    if row.stage is not None:
        tin, tout = row.tokens
        lines.append(
            f"      attempt {row.stage.attempt}, {row.stage.model_calls} model call(s) finished,"
            f" {tin}/{tout} tokens"
        )
    return lines + [f"      {check}" for check in checks]


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
