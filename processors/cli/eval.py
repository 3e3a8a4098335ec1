"""``daemons eval NAME [--model MODEL] [--judge MODEL] [--limit N] [--json]``: score a daemon
on its labeled cases.

Runs each of the daemon's labeled cases (``UseCase.evals``) against a fresh in-process
reference ledger API (no Kafka), then prints per-field / per-question / per-aspect accuracy,
the overall score, pass rate, tokens and median latency. A ``local:…`` model with no server
answering at the local URL gets one started (``daemons llm serve``) for the duration of the
run. No judge runs unless ``--judge`` names one (a ``local:`` judge is reached at
``DAEMONS_JUDGE_LOCAL_LLM_URL``, or gets its own server the same way); a result it fails or
holds for review then counts as not published.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator

import httpx

from processors.daemons.evaluation import EvalReport, load_cases, run_eval
from processors.errors import ConfigError
from processors.guardrails.judge import Judge, ensure_independent
from processors.llm.config import LLMSettings
from processors.llm.local.catalog import LOCAL_MODELS
from processors.llm.registry import load_model, parse_model_name
from processors.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("eval", help="score a daemon on its labeled eval cases")
    parser.add_argument("name", help="daemon name (see `daemons tools --help` for the names)")
    parser.add_argument("--model", default=None, help="model string (default: DAEMONS_MODEL)")
    parser.add_argument(
        "--judge", default=None,
        help="judge model (e.g. local:qwen2.5-coder-0.5b); default: none, the checks decide",
    )  # fmt: skip
    parser.add_argument("--limit", type=int, default=None, help="only the first N cases")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=_eval)


def _eval(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    name = args.model or settings.model
    cases = load_cases(args.name)
    with contextlib.ExitStack() as stack:
        llm = stack.enter_context(_llm_settings(name, settings.llm))
        model = load_model(name, llm)
        judge = None
        if args.judge is not None:
            ensure_independent(args.judge, name)
            judging = settings.llm.model_copy(update={"local_base_url": settings.judge_local_url})
            judge_llm = stack.enter_context(_llm_settings(args.judge, judging))
            judge = Judge(load_model(args.judge, judge_llm), primary=name)
        report = run_eval(args.name, model, cases=cases, limit=args.limit, judge=judge)
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0


def _answers(base_url: str) -> bool:
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        return httpx.get(f"{root}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def _llm_settings(model: str, llm: LLMSettings) -> Iterator[LLMSettings]:
    """``llm`` as is, or — for a ``local:`` model nobody serves — pointed at a server started
    for the duration of the block."""
    parsed = parse_model_name(model)
    if parsed.provider != "local" or _answers(llm.local_base_url):
        yield llm
        return
    from processors.testing.llm import local_model_server, missing_extra

    if parsed.served_model not in LOCAL_MODELS:
        raise ConfigError(f"no server at {llm.local_base_url} and {model!r} is not a known model")
    reason = missing_extra(parsed.served_model)
    if reason:
        raise ConfigError(f"no server at {llm.local_base_url}, cannot start one: {reason}")
    print(
        f"no model server at {llm.local_base_url}; starting one for {parsed.served_model} "
        "for this run",
        file=sys.stderr,
    )
    with local_model_server(parsed.served_model, ctx=8192) as url:
        yield llm.model_copy(update={"local_base_url": url})


def format_report(report: EvalReport) -> str:
    """A readable table: one row per case, then per-part accuracy and the totals."""
    lines = [f"{report.daemon} with {report.model}: {len(report.cases)} cases", ""]
    lines.append(f"{'case':<28} {'verdict':<7} {'score':>5} {'tok in':>7} {'tok out':>7} "
                 f"{'secs':>6}  error")  # fmt: skip
    for c in report.cases:
        error = f"{c.error_type}" if c.error_type else "; ".join(c.failed_checks)[:60]
        if not error and c.decision not in (None, "pass"):  # the judge failed or held it
            error = f"judge {c.decision}: {'; '.join(c.decision_reasons)}"[:60]
        lines.append(
            f"{c.case_id[:28]:<28} {c.verdict:<7} {c.score:>5.2f} {c.input_tokens:>7} "
            f"{c.output_tokens:>7} {c.latency_s:>6.1f}  {error}"
        )
    lines += ["", f"{'accuracy per ' + report.part_kind:<30} {'acc':>5} {'n':>4}"]
    for part in sorted(report.parts):
        lines.append(f"{part:<30} {report.parts[part]:>5.2f} {report.part_counts[part]:>4}")
    errors = ", ".join(f"{k}={v}" for k, v in sorted(report.errors.items())) or "none"
    lines += [
        "",
        f"score {report.score:.2f}  pass rate {report.pass_rate:.2f}  "
        f"tokens in {report.input_tokens} out {report.output_tokens}  "
        f"median latency {report.median_latency_s:.1f} s  errors: {errors}",
    ]
    if report.reward is not None:  # docs/feedback.md#rewards
        lines.append(
            f"mean reward {report.reward:.2f} (format, tools, grounding, guardrail, judge)"
        )
    return "\n".join(lines)
