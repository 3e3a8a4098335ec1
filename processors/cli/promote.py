"""``daemons promote NAME --candidate CONFIG --eval-set HELD_OUT.jsonl [--guard-set FILE]
[--baseline CONFIG] [--margin M] [--tolerance T] [--html FILE]``: the promotion gate.

Replays the held-out cases plus the guard cases (those whose right answer is "cannot answer"
or "blocked": by default the daemon's own eval cases of that kind) through the current
configuration and the candidate with ``daemons compare``, and writes the candidate as the
daemon's model configuration (``DAEMONS_CONFIG_DIR/NAME.toml``) only if the gate passes
(:mod:`processors.promote.gate`). The HTML report opens with the decision and its reasons.
Exit status: 0 promoted, 1 refused.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from processors.cli.compare import llm_for
from processors.compare import Tools, load_config, run_comparison
from processors.compare.config import CompareConfig
from processors.compare.html import render_html
from processors.daemons import evaluation
from processors.errors import ConfigError
from processors.promote import store
from processors.promote.gate import Decision, Gate, guard_kind
from processors.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("promote", help="promote a candidate model config if the gate passes")
    parser.add_argument("name", help="daemon name")
    parser.add_argument("--candidate", required=True, type=Path, help="candidate config (TOML)")
    parser.add_argument(
        "--eval-set", required=True, type=Path,
        help="held-out labeled cases (JSON lines), none used in training",
    )  # fmt: skip
    parser.add_argument(
        "--guard-set", type=Path, default=None,
        help="cases whose right answer is cannot-answer or blocked (default: those of the "
        "daemon's own eval set)",
    )  # fmt: skip
    parser.add_argument(
        "--baseline", type=Path, default=None,
        help="compare against this config (default: the daemon's current one, or "
        "DAEMONS_MODEL when it has none)",
    )  # fmt: skip
    parser.add_argument("--margin", type=float, default=0.05,
                        help="how much the held-out score must rise (0.05)")  # fmt: skip
    parser.add_argument("--tolerance", type=float, default=0.0,
                        help="how much the guard cases' score may fall (0.0)")  # fmt: skip
    parser.add_argument("--html", type=Path, default=None,
                        help="report file (default promote-NAME-CANDIDATE.html)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per side (900)")
    parser.add_argument("--concurrency", type=int, default=4, help="events in flight (4)")
    parser.set_defaults(handler=_promote)


def _read_cases(path: Path) -> list[dict[str, Any]]:
    cases = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: not JSON: {exc}") from exc
        if not isinstance(case, dict) or not isinstance(case.get("id"), str):
            raise ConfigError(f"{path}:{number}: id: every case needs a string id")
        cases.append(case)
    return cases


def _baseline(args: argparse.Namespace, settings: Settings) -> CompareConfig:
    if args.baseline is not None:
        return load_config(args.baseline)
    current = store.current(settings.config_dir, args.name)
    if current is not None:
        return current.model_copy(update={"name": "current"})
    return CompareConfig(name="current", model=settings.model, planner_model=settings.planner_model,
                         judge_model=settings.judge_model)  # fmt: skip


def _promote(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    candidate = load_config(args.candidate)
    baseline = _baseline(args, settings)
    if baseline.name == candidate.name:
        baseline = baseline.model_copy(update={"name": f"{baseline.name}-baseline"})
    heldout = _read_cases(args.eval_set)
    guard_source = args.guard_set or evaluation.eval_set(args.name).cases
    guards = [c for c in _read_cases(guard_source) if guard_kind(c)]
    seen = {c["id"] for c in heldout}
    guard_ids = {c["id"] for c in guards} | {c["id"] for c in heldout if guard_kind(c)}
    cases = heldout + [c for c in guards if c["id"] not in seen]
    with tempfile.TemporaryDirectory(prefix="daemons-promote-") as work:
        merged = Path(work) / "cases.jsonl"
        merged.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
        comparison = run_comparison(
            args.name, baseline, candidate, settings, eval_set=merged, tools=Tools(),
            timeout=args.timeout, concurrency=args.concurrency, llm_for=llm_for(settings),
        )  # fmt: skip
    from processors.promote.gate import decide

    decision = decide(comparison, guard_ids, Gate(args.margin, args.tolerance))
    written = None
    if decision.promote:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        header = [f"promoted by daemons promote at {now}", *decision.reasons,
                  f"baseline was: {baseline.model}"]  # fmt: skip
        written = store.write(settings.config_dir, args.name, candidate, header)
    html_path = args.html or Path(f"promote-{args.name}-{candidate.name}.html")
    html_path.write_text(_report(render_html(comparison), decision, written), encoding="utf-8")
    print(json.dumps({**decision.to_dict(), "config": str(written) if written else None,
                      "report": str(html_path)}, indent=2))  # fmt: skip
    verdict = f"promoted: wrote {written}" if written else "refused: configuration unchanged"
    print(verdict, file=sys.stderr)
    return 0 if decision.promote else 1


def _report(compare_html: str, decision: Decision, written: Path | None) -> str:
    """The comparison's report with the gate's decision and reasons at the top."""
    color = "#1a7f37" if decision.promote else "#b42318"
    title = "Promoted" if decision.promote else "Refused"
    items = "".join(f"<li>{escape(r)}</li>" for r in decision.reasons)
    where = f"<p>Wrote <code>{escape(str(written))}</code>.</p>" if written else (
        "<p>The daemon's model configuration is unchanged.</p>")  # fmt: skip
    block = (
        f'<section id="gate" style="border:2px solid {color};padding:8px 16px;margin:12px 0">'
        f'<h2 style="color:{color}">Promotion gate: {title}</h2><ul>{items}</ul>{where}</section>'
    )
    marker = "</h1>"
    at = compare_html.find(marker)
    if at < 0:
        raise ConfigError("the comparison report has no title to put the gate's decision under")
    return compare_html[: at + len(marker)] + block + compare_html[at + len(marker) :]
