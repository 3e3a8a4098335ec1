"""What one decision costs with the embedded model, before and after a change, in one run.

    .venv/bin/python benchmarks/decision_cost.py              # before: b20a5e7; after: this tree
    .venv/bin/python benchmarks/decision_cost.py --before REF --events 10 --daemons NAME,NAME
    .venv/bin/python benchmarks/decision_cost.py --phases after --merge BEFORE.out  # one phase

For each phase (``before``: a git worktree of ``--before``; ``after``: this checkout) it starts
that tree's own ``daemons llm serve`` for the 1.5B model and runs that tree's own
``daemons eval NAME --limit N --json`` for each daemon, one daemon after the other: the same N
events of each eval set through the daemon's pipeline (tenant check, agent, checks, the
write-back; no judge — ``daemons eval`` runs none), as one model server sees them.

Per daemon and phase: prompt tokens the server actually computed per decision and the share it
read from its cache (from the server's one log line per completion, which both trees write),
generated tokens per decision, wall time per decision (p50/p95, from the eval's per-case
latency) and the eval score on those events. Then the ratios after/before and the bars of
issue 13: computed prompt tokens ≤ 0.25 of before, p50 wall ≤ 0.4 of before, score not lower.

The machine's raw speed is measured at the start and the end of each phase (prompt and
generation tokens/s of the 1.5B model on a fixed prompt, no cache), so a slow day reads as a
slow day. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "b20a5e7"  # the last commit before issue 13's changes
DAEMONS = ("vendor-enrichment", "client-onboarding", "question-answering")
MODEL = "qwen2.5-coder-1.5b"
_COMPLETION = re.compile(
    r"completion: prompt (\d+) tokens \((\d+) cached\) in ([\d.]+) ms, "
    r"generated (\d+) tokens in ([\d.]+) ms"
)
_RAW_SPEED = r"""
import json, sys, xllamacpp as x
p = x.CommonParams()
p.model.path = sys.argv[1]
p.n_ctx = 2048
p.n_parallel = 1
p.warmup = True
server = x.Server(p)
line = "Invoice {} from vendor number {} was paid on day {}."
text = " ".join(line.format(i, i % 7, i % 28 + 1) for i in range(40))
r = server.handle_completions({"prompt": text, "n_predict": 64, "ignore_eos": True,
                               "cache_prompt": False, "temperature": 0})
t = r["timings"]
print(json.dumps({"prompt_tokens": t["prompt_n"], "prompt_tokens_per_s": t["prompt_per_second"],
                  "generated_tokens": t["predicted_n"],
                  "generated_tokens_per_s": t["predicted_per_second"]}))
"""


def raw_speed(python: str, model_path: Path) -> dict[str, Any]:
    """Prompt and generation tokens/s of the model on a fixed prompt, nothing cached."""
    out = subprocess.run([python, "-c", _RAW_SPEED, str(model_path)], capture_output=True,
                         text=True, check=True, timeout=600)  # fmt: skip
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return {k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}


def completions(log_text: str) -> list[dict[str, float]]:
    """The server's per-completion figures, in order (pure)."""
    return [
        {
            "computed": int(m.group(1)),
            "cached": int(m.group(2)),
            "prompt_ms": float(m.group(3)),
            "generated": int(m.group(4)),
            "generated_ms": float(m.group(5)),
        }
        for m in _COMPLETION.finditer(log_text)
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def daemon_figures(report: dict[str, Any], calls: list[dict[str, float]]) -> dict[str, Any]:
    """One daemon's figures in one phase, from its eval report and its completions (pure)."""
    cases = report["cases"]
    n = len(cases)
    computed = sum(c["computed"] for c in calls)
    cached = sum(c["cached"] for c in calls)
    walls = [float(c["latency_s"]) for c in cases]
    return {
        "decisions": n,
        "model_calls": len(calls),
        "computed_prompt_tokens_per_decision": round(computed / n, 1) if n else 0.0,
        "cached_share": round(cached / (computed + cached), 3) if computed + cached else 0.0,
        "generated_tokens_per_decision": round(sum(c["generated"] for c in calls) / n, 1)
        if n
        else 0.0,
        "prompt_seconds_per_decision": round(sum(c["prompt_ms"] for c in calls) / 1000 / n, 1)
        if n
        else 0.0,
        "generation_seconds_per_decision": round(
            sum(c["generated_ms"] for c in calls) / 1000 / n, 1
        )
        if n
        else 0.0,
        "wall_p50_s": round(statistics.median(walls), 1) if walls else 0.0,
        "wall_p95_s": round(percentile(walls, 0.95), 1),
        "score": round(float(report["score"]), 3),
        "pass_rate": round(float(report["pass_rate"]), 3),
        "errors": report.get("errors", {}),
    }


def compare(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Ratios after/before and the bars (pure)."""

    def ratio(key: str) -> float | None:
        return round(after[key] / before[key], 3) if before[key] else None

    tokens, wall = ratio("computed_prompt_tokens_per_decision"), ratio("wall_p50_s")
    return {
        "computed_prompt_tokens_ratio": tokens,
        "wall_p50_ratio": wall,
        "score_delta": round(after["score"] - before["score"], 3),
        "bar_tokens_le_0.25": tokens is not None and tokens <= 0.25,
        "bar_wall_p50_le_0.4": wall is not None and wall <= 0.4,
        "bar_score_not_lower": after["score"] >= before["score"],
    }


def _free_port() -> int:
    sys.path.insert(0, str(ROOT))
    from processors.testing.broker import free_port

    return free_port()


def _model_file(python: str) -> Path:
    """The 1.5B model's GGUF, assembled from its wheel's parts first on a fresh machine (the
    raw-speed probe reads the file directly, before any server would have assembled it)."""
    code = (
        "from processors.llm.local.catalog import QWEN_1_5B as s\n"
        "from processors.llm.local.assemble import ensure_model\n"
        "from processors.settings import Settings\n"
        "print(ensure_model(s, Settings.from_env().cache_dir / 'models'))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's code, for either phase
    out = subprocess.run([python, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return Path(out.stdout.strip().splitlines()[-1])


def run_phase(
    name: str, tree: Path, daemons: list[str], events: int, python: str, logs: Path
) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONUNBUFFERED": "1"}
    model_path = _model_file(python)
    print(f"[{name}] raw speed of {MODEL} …", file=sys.stderr, flush=True)
    speed = raw_speed(python, model_path)
    print(f"[{name}] raw speed: {speed}", file=sys.stderr, flush=True)
    port = _free_port()
    log_path = logs / f"{name}-llm.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [python, "-m", "processors", "llm", "serve", "--model", MODEL, "--port", str(port)],
            # the server logs one INFO line per completion: computed and cached prompt tokens
            cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", server)
        figures: dict[str, Any] = {"raw_speed": speed, "tree": str(tree)}
        for daemon in daemons:
            seen = len(completions(log_path.read_text(errors="replace")))
            started = time.monotonic()
            print(f"[{name}] {daemon}: {events} events …", file=sys.stderr, flush=True)
            out = subprocess.run(
                [python, "-m", "processors", "eval", daemon, "--model", f"local:{MODEL}",
                 "--limit", str(events), "--json"],
                cwd=tree, capture_output=True, text=True, check=True,
                env={**env, "DAEMONS_LOCAL_LLM_URL": f"http://127.0.0.1:{port}/v1"},
            )  # fmt: skip
            (logs / f"{name}-{daemon}.json").write_text(out.stdout)
            calls = completions(log_path.read_text(errors="replace"))[seen:]
            figures[daemon] = daemon_figures(json.loads(out.stdout), calls)
            figures[daemon]["elapsed_s"] = round(time.monotonic() - started, 1)
            print(f"[{name}] {daemon}: {figures[daemon]}", file=sys.stderr, flush=True)
    finally:
        server.terminate()
        server.wait(60)
    figures["raw_speed_end"] = raw_speed(python, model_path)  # contention during the phase shows
    print(f"[{name}] raw speed at the end: {figures['raw_speed_end']}", file=sys.stderr)
    return figures


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"model server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(1)  # not up yet
            continue
        time.sleep(1)
    raise SystemExit(f"model server not healthy after {seconds:.0f}s")


def worktree(ref: str, where: Path) -> Path:
    tree = where / f"tree-{ref}"
    if not tree.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref],
                       check=True, capture_output=True)  # fmt: skip
    return tree


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE, help=f"git ref of 'before' ({BEFORE})")
    parser.add_argument("--events", type=int, default=10, help="events per daemon (10)")
    parser.add_argument("--daemons", default=",".join(DAEMONS))
    parser.add_argument("--phases", default="before,after")
    parser.add_argument("--logs", type=Path, default=None, help="where logs and reports go")
    parser.add_argument("--merge", type=Path, nargs="*", default=(),
                        help="earlier runs' JSON (last lines) to take phases from")  # fmt: skip
    args = parser.parse_args(argv)
    daemons = [d for d in args.daemons.split(",") if d]
    logs = args.logs or Path(tempfile.mkdtemp(prefix="decision-cost-"))
    logs.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    result: dict[str, Any] = {"model": f"local:{MODEL}", "events_per_daemon": args.events,
                              "logs": str(logs)}  # fmt: skip
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    for earlier in args.merge:
        found = json.loads(earlier.read_text().strip().splitlines()[-1])
        result.update({k: v for k, v in found.items() if k in ("before", "after")})
    for phase in [p for p in args.phases.split(",") if p]:
        tree = worktree(args.before, logs) if phase == "before" else ROOT
        result[phase] = run_phase(phase, tree, daemons, args.events, python, logs)
        result[phase]["commit"] = args.before if phase == "before" else commit
    if "before" in result and "after" in result:
        result["comparison"] = {
            d: compare(result["before"][d], result["after"][d])
            for d in daemons
            if d in result["before"] and d in result["after"]
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
