"""``daemons runs show EVENT_ID|RUN_ID [--json]``: the story of one decision.

Reads ``daemons.runs`` (the run records) from the broker, then what the same run left on the
other topics — the input event, the guardrail outcome, the published (or held) result — and
prints, per run: input, plan, each model call with tokens and cost, each tool call with its
result digest, the guardrail verdict, the output, timings, and the trace and span ids that
lead to the trace in any OpenTelemetry backend. ``--json`` prints one JSON object instead.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from processors.daemons import registry
from processors.errors import ConfigError, DaemonsError
from processors.kafka.clients import Contracts
from processors.kafka.snapshot import read_to_end
from processors.serde.json_codec import to_json
from processors.settings import Settings

RUNS_TOPIC, OUTCOMES_TOPIC, REVIEW_TOPIC = (
    "daemons.runs",
    "guardrails.outcomes",
    "guardrails.review",
)
Match = Callable[[dict[str, Any]], bool]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("runs", help="decision records: the story of one run")
    runs = parser.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    show = runs.add_parser("show", help="input, plan, calls, verdict and output of one decision")
    show.add_argument("id", metavar="EVENT_ID|RUN_ID", help="the input event's id or the run id")
    show.add_argument("--json", action="store_true", help="one JSON object (for machines)")
    show.add_argument("--timeout", type=float, default=60.0, help="reading limit, seconds")
    show.set_defaults(handler=_show)


@dataclass
class Story:
    """One run and what it left on the other topics (values as JSON-ready data)."""

    run: dict[str, Any]
    input: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    outputs: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        run = dict(self.run)
        for key in ("plan_json", "output_json", "prompts_json", "parameters_json"):
            text = run.pop(key, None)
            run[key.removesuffix("_json")] = json.loads(text) if text else None
        run["model_calls"] = [_with_parameters(c) for c in run.get("model_calls", [])]
        return {"run": run, "input": self.input, "guardrail": self.outcome,
                "outputs": self.outputs}  # fmt: skip


def find_stories(
    settings: Settings, contracts: Contracts, ident: str, *, timeout: float = 60.0
) -> list[Story]:
    """Every run whose run id or input event id is ``ident``, with its input and outputs."""
    runs = scan(settings, contracts, [RUNS_TOPIC], _either(ident), timeout=timeout)
    stories = [Story(run=r["value"]) for r in sorted(runs, key=lambda r: r["value"]["run_id"])]
    stories.sort(key=lambda s: str(s.run.get("occurred_at")))
    if not stories:
        return []
    run_ids = {s.run["run_id"] for s in stories}
    event_ids = {s.run["event_id"] for s in stories}
    daemons = {s.run["daemon"] for s in stories}
    result_topics, input_topics = _daemon_topics(daemons)
    wanted = [OUTCOMES_TOPIC, REVIEW_TOPIC, *result_topics]
    by_run = scan(
        settings, contracts, wanted, lambda v: v.get("run_id") in run_ids, timeout=timeout
    )
    inputs = scan(
        settings, contracts, input_topics, lambda v: v.get("event_id") in event_ids,
        timeout=timeout,
    )  # fmt: skip
    for story in stories:
        story.input = next(
            (_plain(r) for r in inputs if r["value"]["event_id"] == story.run["event_id"]), None
        )
        for record in by_run:
            if record["value"]["run_id"] != story.run["run_id"]:
                continue
            if record["topic"] == OUTCOMES_TOPIC:
                story.outcome = record["value"]
            else:
                story.outputs.append(_plain(record))
    return stories


def scan(
    settings: Settings,
    contracts: Contracts,
    topics: Sequence[str],
    match: Match,
    *,
    timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """Decoded records (``topic``, ``partition``, ``offset``, ``headers``, JSON ``value``) of
    the logical ``topics`` whose value ``match``es, from the start to the current end."""
    logical = {contracts.catalog.physical(t): t for t in topics}
    found: list[dict[str, Any]] = []
    messages = read_to_end(
        settings, list(logical), purpose="runs", timeout=timeout, missing_ok=True
    )
    for msg in messages:
        value = to_json(contracts.codec.decode(msg.value()))
        if isinstance(value, dict) and match(value):
            found.append({
                "topic": logical[msg.topic() or ""], "partition": msg.partition() or 0,
                "offset": msg.offset() or 0, "headers": _headers(msg.headers()), "value": value,
            })  # fmt: skip
    return found


def _headers(headers: Any) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, dict) else headers or []
    return {k: v.decode(errors="replace") if isinstance(v, bytes) else (v or "") for k, v in pairs}


def _either(ident: str) -> Match:
    return lambda v: ident in (v.get("run_id"), v.get("event_id"))


def _daemon_topics(daemons: set[str]) -> tuple[list[str], list[str]]:
    from processors.daemons import registry

    results, inputs = [], []
    for name in sorted(daemons):
        try:
            use_case = registry.use_case(name)
        except ConfigError:
            continue  # a daemon given as module:attribute: its topics are unknown here
        results.append(use_case.output_topic)
        inputs.append(use_case.input_topic)
    return results, inputs


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {"topic": record["topic"], "traceparent": record["headers"].get("traceparent"),
            "value": record["value"]}  # fmt: skip


def _with_parameters(call: dict[str, Any]) -> dict[str, Any]:
    call = dict(call)
    call["parameters"] = json.loads(call.pop("parameters_json", None) or "{}")
    return call


# ---- the human-readable story ---------------------------------------------------------------


def render(story: Story) -> str:
    """The story of one decision, for a person."""
    run = story.run
    lines = [
        f"run {run['run_id']} · {run['daemon']} · {run['outcome']}"
        + (f" ({run['error_type']})" if run.get("error_type") else "")
        + f" · {_ms(run['latency_ms'])}",
        f"  event     {run['event_id']}  tenant {run['tenant_id']}  "
        f"principal {run['principal_id']}  at {run['occurred_at']}",
        f"  trace     {run['trace_id'] or '-'}  agent span {run['span_id'] or '-'}",
        f"  model     {run['model']}"
        + (f"  planner {run['planner_model']}" if run.get("planner_model") else "")
        + f"  parameters {run.get('parameters_json') or '{}'}",
        f"  prompts   {run['prompt_version']}  {run.get('prompts_json') or '{}'}",
    ]
    if story.input is not None:
        lines.append(f"  input     {story.input['topic']}: {_short(story.input['value'])}")
    for plan in json.loads(run.get("plan_json") or "[]"):
        state = "accepted" if plan.get("accepted") else f"rejected: {plan.get('rejection')}"
        reason = f" (re-plan: {plan['reason']})" if plan.get("reason") else ""
        lines.append(f"  plan #{plan['attempt']}   {state}{reason}")
        lines.extend(
            f"    {i}. {step['tool']} — {step['why']}" for i, step in enumerate(plan["steps"], 1)
        )
    lines.append("  model calls")
    for call in run.get("model_calls", []):
        parameters = json.loads(call.get("parameters_json") or "{}")
        lines.append(
            f"    {call.get('purpose', parameters.get('purpose', '?')):8s}{call['model']}  "
            f"{call['input_tokens']} in / {call['output_tokens']} out tokens  "
            f"${call['cost_usd']:.6f}  {_ms(call['latency_ms'])}  "
            f"{call.get('finish_reason') or '-'}  span {call.get('span_id') or '-'}"
        )
    lines.append("  tool calls" if run.get("tool_calls") else "  tool calls (none)")
    for call in run.get("tool_calls", []):
        result = f"error {call['error']}" if call.get("error") else call.get("result_digest")
        lines.append(
            f"    {call['name']} {_short(call['arguments_json'], 80)} → {result}  "
            f"{_ms(call['latency_ms'])}  span {call.get('span_id') or '-'}"
        )
    lines.extend(_guardrail(story.outcome))
    for output in story.outputs:
        lines.append(f"  output    {output['topic']}: {_short(output['value'])}")
    if not story.outputs:
        lines.append(f"  output    none published · final response {_short(run['output_json'])}")
    lines.append(
        f"  totals    {len(run.get('model_calls', []))} model calls, "
        f"{len(run.get('tool_calls', []))} tool calls, {run['input_tokens']} in / "
        f"{run['output_tokens']} out tokens, ${run['cost_usd']:.6f}, {_ms(run['latency_ms'])}"
    )
    return "\n".join(lines)


def _guardrail(outcome: dict[str, Any] | None) -> list[str]:
    if outcome is None:
        return ["  guardrail (no outcome recorded)"]
    lines = [f"  guardrail {outcome['verdict']}  judge {outcome.get('judge_model') or 'none'}"]
    for check in outcome.get("checks", []):
        mark = "ok  " if check["passed"] else "FAIL"
        detail = f" — {check['detail']}" if check.get("detail") else ""
        lines.append(f"    {mark} {check['name']}{detail}")
    lines.extend(f"    score {k} = {v}" for k, v in sorted(outcome.get("scores", {}).items()))
    return lines


def _short(value: Any, width: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 10 else f"{value:.1f} ms"


def _show(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    contracts = registry.contracts(settings)
    stories = find_stories(settings, contracts, args.id, timeout=args.timeout)
    if not stories:
        raise DaemonsError(f"no run record with run id or event id {args.id!r} in {RUNS_TOPIC}")
    if args.json:
        print(json.dumps({"runs": [s.as_json() for s in stories]}, sort_keys=True, default=str))
    else:
        print("\n\n".join(render(s) for s in stories))
    return 0
