"""The judge on the labeled set with a local model: precision/recall of fail detection.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/judge.py --judge qwen2.5-coder-0.5b
    flock /tmp/heavy.lock .venv/bin/python benchmarks/judge.py --judge qwen2.5-coder-1.5b

Measures the judge model's raw speed (prompt and generation tokens/s on a fixed prompt, as
``benchmarks/decision_cost.py`` does), starts ``daemons llm serve`` for it, then runs
``processors.daemons.judge_eval`` over ``examples/guardrails/judge_labeled.jsonl`` (every
case, or ``--ids-from FILE``: one id a line, for a held-out subset) with the other local model
named as primary (a model never judges itself), and measures raw speed again at the end.
Figures overall and per daemon: precision, recall (``fail`` verdicts on ``fail`` cases),
flagged (``needs_review`` counted as caught), judge seconds per output (p50, p95), model
calls. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from decision_cost import _free_port, _wait_healthy, raw_speed  # noqa: E402

OTHER = {"qwen2.5-coder-0.5b": "qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b": "qwen2.5-coder-0.5b"}


def _model_file(python: str, name: str) -> Path:
    code = (
        "from processors.llm.local import catalog\n"
        "from processors.llm.local.assemble import ensure_model\n"
        "from processors.settings import Settings\n"
        f"spec = next(s for s in vars(catalog).values() if getattr(s, 'name', None) == {name!r})\n"
        "print(ensure_model(spec, Settings.from_env().cache_dir / 'models'))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([python, "-c", code], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True)  # fmt: skip
    return Path(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judge", default="qwen2.5-coder-0.5b", choices=sorted(OTHER))
    parser.add_argument("--ids-from", type=Path, help="only the case ids in this file")
    parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args(argv)

    from processors.daemons.environment import judge_from_settings
    from processors.daemons.judge_eval import judge_precision_recall, load_cases
    from processors.settings import Settings

    cases = load_cases()
    if args.ids_from:
        wanted = {line.strip() for line in args.ids_from.read_text().splitlines() if line.strip()}
        cases = [c for c in cases if c.id in wanted]
    model_path = _model_file(args.python, args.judge)
    print(f"raw speed of {args.judge} …", file=sys.stderr, flush=True)
    figures: dict[str, Any] = {"judge": args.judge, "raw_speed": raw_speed(args.python, model_path)}
    print(f"raw speed: {figures['raw_speed']}", file=sys.stderr, flush=True)
    port = _free_port()
    server = subprocess.Popen(
        [args.python, "-m", "processors", "llm", "serve", "--model", args.judge,
         "--port", str(port)],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", server)
        env = {
            "DAEMONS_MODEL": f"local:{OTHER[args.judge]}",
            "DAEMONS_JUDGE_MODEL": f"local:{args.judge}",
            "DAEMONS_JUDGE_LOCAL_LLM_URL": f"http://127.0.0.1:{port}/v1",
        }
        judge = judge_from_settings(Settings.from_env({**os.environ, **env}))
        assert judge is not None
        started = time.monotonic()
        report = asyncio.run(judge_precision_recall(judge, cases))
        figures["elapsed_s"] = round(time.monotonic() - started, 1)
    finally:
        server.terminate()
        server.wait(60)
    figures["raw_speed_end"] = raw_speed(args.python, model_path)
    figures.update(report)
    print(json.dumps(figures, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
