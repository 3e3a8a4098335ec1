"""The comparison of two replays: per case and in total (pure: data in, data out).

    compare_sides(daemon, source, cases, baseline, candidate, scorer) -> Comparison
    format_comparison(comparison) -> str        (the terminal table)
    comparison.to_dict()                        (``--json``)

Per case and side: what happened (``published`` / ``withheld`` by the checks /
``needs_review`` / ``dead-letter`` / ``missing``), the eval score where the case is labeled,
the guardrail verdict, judge scores (``guardrails.outcomes`` ``scores``, when a judge ran),
tokens, cost and latency from the run record(s); and a field-level diff of the two
published outputs. Fields every replay changes (ids, times, trace) are not compared.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from processors.compare.replay import Case, Collected, SideResult
from processors.daemons.evaluation import case_score
from processors.serde.json_codec import to_json

Scorer = Callable[[Mapping[str, Any], Mapping[str, Any] | None], dict[str, Any]]
VOLATILE = frozenset({"event_id", "tenant_id", "principal_id", "occurred_at", "output_id",
                      "run_id", "trace_id"})  # fmt: skip
NO_OUTPUT = "(no output)"
ABSENT = "(absent)"


@dataclass(frozen=True)
class SideCase:
    """One case under one configuration."""

    state: str  # published | withheld | needs_review | dead-letter | missing
    verdict: str | None  # the guardrail verdict, None without an outcome
    score: float | None  # eval score (0..1) where the case is labeled
    judge: dict[str, float]
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms: float | None
    error_type: str | None = None
    reasons: list[str] = field(default_factory=list)  # the outcome's: failed checks, judge
    output: dict[str, Any] | None = None  # the published datum (JSON form)


@dataclass(frozen=True)
class FieldDiff:
    path: str
    baseline: Any
    candidate: Any


@dataclass(frozen=True)
class CaseRow:
    case_id: str
    event_id: str
    labeled: bool
    baseline: SideCase
    candidate: SideCase
    diffs: list[FieldDiff]

    @property
    def changed(self) -> bool:
        return bool(self.diffs) or self.baseline.state != self.candidate.state


@dataclass(frozen=True)
class SideTotals:
    """One configuration over all cases."""

    name: str
    model: str
    config: dict[str, Any]
    cases: int
    labeled: int
    accuracy: float | None  # mean eval score over labeled cases; None when none is labeled
    pass_rate: float  # share of cases whose guardrail verdict is "pass"
    published: int
    judge: dict[str, float]  # mean per judge score over the cases a judge scored
    judged: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_ms_median: float | None
    latency_ms_p95: float | None
    states: dict[str, int]
    errors: dict[str, int]
    shadow_prefix: str
    shadow_topics: dict[str, str]
    records_read: dict[str, int]
    wall_s: float
    timed_out: bool


@dataclass(frozen=True)
class Comparison:
    daemon: str
    source: str
    baseline: SideTotals
    candidate: SideTotals
    cases: list[CaseRow]

    @property
    def changed(self) -> int:
        return sum(row.changed for row in self.cases)

    @property
    def judge_names(self) -> list[str]:
        return sorted({*self.baseline.judge, *self.candidate.judge})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for row, raw in zip(self.cases, data["cases"], strict=True):
            raw["changed"] = row.changed
        return {**data, "changed": self.changed}


def compare_sides(
    daemon: str,
    source: str,
    cases: Sequence[Case],
    baseline: SideResult,
    candidate: SideResult,
    scorer: Scorer | None,
) -> Comparison:
    rows = []
    for case in cases:
        event_id = case.event["event_id"]
        left = side_case(case, baseline.by_event.get(event_id), scorer)
        right = side_case(case, candidate.by_event.get(event_id), scorer)
        rows.append(CaseRow(case.case_id, event_id, case.labeled is not None and scorer is not None,
                            left, right, field_diff(left.output, right.output)))  # fmt: skip
    return Comparison(
        daemon, source,
        totals(baseline, [r.baseline for r in rows], [r.labeled for r in rows]),
        totals(candidate, [r.candidate for r in rows], [r.labeled for r in rows]),
        rows,
    )  # fmt: skip


def side_case(case: Case, got: Collected | None, scorer: Scorer | None) -> SideCase:
    got = got or Collected()
    output = to_json(got.result) if got.result is not None else None
    score = None
    if case.labeled is not None and scorer is not None:
        score = case_score(scorer(case.labeled, output))
    outcome = got.outcome or {}
    verdict = outcome.get("verdict")
    if got.dead_letter is not None:
        state = "dead-letter"
    elif verdict is None:
        state = "missing"
    elif verdict == "pass":
        state = "published" if output is not None else "missing"
    else:
        state = "needs_review" if verdict == "needs_review" else "withheld"
    latencies = [float(r["latency_ms"]) for r in got.runs]
    return SideCase(
        state=state,
        verdict=verdict,
        score=score,
        judge={k: float(v) for k, v in (outcome.get("scores") or {}).items()},
        input_tokens=sum(int(r["input_tokens"]) for r in got.runs),
        output_tokens=sum(int(r["output_tokens"]) for r in got.runs),
        cost_usd=sum(float(r["cost_usd"]) for r in got.runs),
        latency_ms=sum(latencies) if latencies else None,
        error_type=(got.dead_letter or {}).get("error_type"),
        reasons=[str(r) for r in outcome.get("reasons") or []],
        output=output,
    )


def field_diff(baseline: Any, candidate: Any) -> list[FieldDiff]:
    """Leaf-by-leaf differences of two outputs (``figures[0].amount_minor``); an output
    missing on one side is one difference at ``(output)``."""
    if baseline is None and candidate is None:
        return []
    if baseline is None or candidate is None:
        return [FieldDiff("(output)", _presence(baseline), _presence(candidate))]
    left, right = _leaves(baseline), _leaves(candidate)
    return [
        FieldDiff(path, left.get(path, ABSENT), right.get(path, ABSENT))
        for path in sorted(left.keys() | right.keys())
        if path.split(".", 1)[0].split("[", 1)[0] not in VOLATILE
        and left.get(path, ABSENT) != right.get(path, ABSENT)
    ]


def _presence(output: Any) -> str:
    return NO_OUTPUT if output is None else "published"


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_leaves(item, f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(_leaves(item, f"{path}[{index}]"))
        return out
    return {path: value}


def totals(side: SideResult, cases: Sequence[SideCase], labeled: Sequence[bool]) -> SideTotals:
    n = len(cases)
    scores = [c.score for c, is_labeled in zip(cases, labeled, strict=True)
              if is_labeled and c.score is not None]  # fmt: skip
    judge_sums: dict[str, list[float]] = {}
    for c in cases:
        for key, value in c.judge.items():
            judge_sums.setdefault(key, []).append(value)
    latencies = sorted(c.latency_ms for c in cases if c.latency_ms is not None)
    states: dict[str, int] = {}
    errors: dict[str, int] = {}
    for c in cases:
        states[c.state] = states.get(c.state, 0) + 1
        if c.error_type:
            errors[c.error_type] = errors.get(c.error_type, 0) + 1
    return SideTotals(
        name=side.config.name,
        model=side.model,
        config=side.config.describe(),
        cases=n,
        labeled=len(scores),
        accuracy=sum(scores) / len(scores) if scores else None,
        pass_rate=sum(c.verdict == "pass" for c in cases) / n if n else 0.0,
        published=sum(c.state == "published" for c in cases),
        judge={k: sum(v) / len(v) for k, v in sorted(judge_sums.items())},
        judged=sum(bool(c.judge) for c in cases),
        input_tokens=sum(c.input_tokens for c in cases),
        output_tokens=sum(c.output_tokens for c in cases),
        cost_usd=sum(c.cost_usd for c in cases),
        latency_ms_median=statistics.median(latencies) if latencies else None,
        latency_ms_p95=latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        if latencies
        else None,
        states=states,
        errors=errors,
        shadow_prefix=side.prefix,
        shadow_topics=dict(side.topics),
        records_read=dict(side.records_read),
        wall_s=side.wall_s,
        timed_out=side.timed_out,
    )


# ---- the terminal table ---------------------------------------------------------------

DASH = "—"


def num(value: float | None, digits: int = 2) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def short(value: Any, width: int = 24) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_comparison(c: Comparison) -> str:
    b, k = c.baseline, c.candidate
    lines = [
        f"compare {c.daemon}: {b.name} vs {k.name}, {len(c.cases)} cases from {c.source}",
        f"baseline  {b.name} ({b.model})  shadow topics {b.shadow_prefix}*",
        f"candidate {k.name} ({k.model})  shadow topics {k.shadow_prefix}*",
        "",
        f"{'':<24} {'baseline':>16} {'candidate':>16}",
    ]

    def row(label: str, left: str, right: str) -> None:
        lines.append(f"{label:<24} {left:>16} {right:>16}")

    row("eval accuracy", num(b.accuracy) + f" ({b.labeled})", num(k.accuracy) + f" ({k.labeled})")
    row("guardrail pass rate", num(b.pass_rate), num(k.pass_rate))
    row("published", str(b.published), str(k.published))
    for judge in c.judge_names or ["score"]:
        row(f"judge {judge}", num(b.judge.get(judge)), num(k.judge.get(judge)))
    row("tokens in", str(b.input_tokens), str(k.input_tokens))
    row("tokens out", str(b.output_tokens), str(k.output_tokens))
    row("cost USD", num(b.cost_usd, 4), num(k.cost_usd, 4))
    row("latency median ms", num(b.latency_ms_median, 0), num(k.latency_ms_median, 0))
    row("latency p95 ms", num(b.latency_ms_p95, 0), num(k.latency_ms_p95, 0))
    row("errors", _counts(b.errors), _counts(k.errors))
    if b.timed_out or k.timed_out:
        row("timed out", str(b.timed_out), str(k.timed_out))
    lines += [
        "",
        f"{'case':<26} {'baseline':<22} {'candidate':<22} differences",
    ]
    for r in c.cases:
        diffs = "; ".join(f"{d.path}: {short(d.baseline, 18)} → {short(d.candidate, 18)}"
                          for d in r.diffs[:2])  # fmt: skip
        if len(r.diffs) > 2:
            diffs += f"; +{len(r.diffs) - 2} more"
        lines.append(
            f"{short(r.case_id, 26):<26} {_side(r.baseline):<22} {_side(r.candidate):<22} "
            f"{diffs or ('same' if not r.changed else '')}"
        )
    lines += ["", f"{c.changed} of {len(c.cases)} cases differ"]
    return "\n".join(lines)


def _side(s: SideCase) -> str:
    score = f" {s.score:.2f}" if s.score is not None else ""
    latency = f" {s.latency_ms / 1000:.1f}s" if s.latency_ms is not None else ""
    return f"{s.state}{score}{latency}"


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "none"
