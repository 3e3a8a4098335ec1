"""How well a judge separates good outputs from bad ones, on a labeled set.

Each case (``examples/guardrails/judge_labeled.jsonl``) is a daemon, its input event, the tool
evidence of the run, an output and a label, ``pass`` or ``fail``. :func:`judge_precision_recall`
asks the judge about every case as the daemon would (criterion by criterion with the daemon's
``UseCase.criteria``; holistically with its task prompt and ``judge_policy.md`` otherwise),
and reports precision and recall of *fail detection* (a ``fail`` verdict on a ``fail`` case is
a true positive), counting ``needs_review`` separately and, in ``flagged_*``, as detection
too; overall and per daemon, with the judge's time per output (p50, p95) and its model calls.

Try it against the configured judge (a real model server must be running; see README)::

    python -m processors.daemons.judge_eval [CASES.jsonl]

(It lives with the daemons because it reads each daemon's task prompt and judge policy.)
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processors.agent.prompt import Prompt
from processors.daemons import registry
from processors.daemons.environment import judge_from_settings
from processors.errors import ConfigError
from processors.guardrails.criteria import Criteria
from processors.guardrails.judge import Judge, JudgeVerdict, load_policy
from processors.settings import Settings
from processors.tools.evidence import ToolEvidence

ROOT = Path(__file__).resolve().parents[2]
LABELED = ROOT / "examples" / "guardrails" / "judge_labeled.jsonl"
"""The labeled set lives in the source tree (built by ``examples/guardrails/
build_judge_labeled.py``), not in the installed package: give its path to run it elsewhere."""


@dataclass(frozen=True)
class JudgeCase:
    id: str
    daemon: str
    event: dict[str, Any]
    evidence: list[ToolEvidence]
    output: dict[str, Any]
    label: str  # "pass" | "fail"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JudgeCase:
        if data["label"] not in ("pass", "fail"):
            raise ConfigError(f"case {data.get('id')!r}: label must be pass or fail")
        evidence = [
            ToolEvidence(e["tool"], dict(e.get("arguments") or {}), e.get("result"), e.get("error"))
            for e in data["evidence"]
        ]
        return cls(
            str(data["id"]), data["daemon"], dict(data["event"]), evidence,
            dict(data["output"]), data["label"],
        )  # fmt: skip


def load_cases(path: Path = LABELED) -> list[JudgeCase]:
    """Every labeled case; a missing file or a bad line is an error naming the file (and line)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read the judge's labeled cases ({exc.strerror}); they ship with "
            "the source tree, not the package: pass the file's path"
        ) from exc
    cases = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                cases.append(JudgeCase.from_dict(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}:{number}: not a labeled case: {exc!r}") from exc
    return cases


async def judge_precision_recall(
    judge: Judge, cases: Iterable[JudgeCase | Mapping[str, Any]]
) -> dict[str, Any]:
    """Judge every case; precision/recall of ``fail`` detection, counts and misses, overall
    and per daemon (``by_daemon``), with the judge's seconds per output."""
    prompts: dict[str, tuple[Prompt, Prompt | None, Criteria | None]] = {}
    judged: list[tuple[JudgeCase, JudgeVerdict, float]] = []
    for raw in cases:
        case = raw if isinstance(raw, JudgeCase) else JudgeCase.from_dict(raw)
        if case.daemon not in prompts:
            use_case = registry.use_case(case.daemon)
            folder, criteria = use_case.prompts, use_case.criteria
            policy = load_policy(folder) if criteria is None else None
            prompts[case.daemon] = (Prompt.load(folder / "task.md"), policy, criteria)
        task, policy, criteria = prompts[case.daemon]
        started = time.perf_counter()
        verdict = await judge.evaluate(
            task=task, event=case.event, output=case.output, evidence=case.evidence,
            policy=policy, criteria=criteria,
        )  # fmt: skip
        judged.append((case, verdict, time.perf_counter() - started))
    report = {"judge_model": judge.name, **_figures(judged)}
    report["by_daemon"] = {
        name: _figures([j for j in judged if j[0].daemon == name])
        for name in sorted({case.daemon for case, _, _ in judged})
    }
    return report


def _figures(judged: list[tuple[JudgeCase, JudgeVerdict, float]]) -> dict[str, Any]:
    tp = fp = fn = tn = flagged_tp = flagged_fp = review = errors = calls = 0
    wrong: list[dict[str, Any]] = []
    for case, verdict, _ in judged:
        bad = case.label == "fail"
        review += verdict.verdict == "needs_review"
        errors += verdict.error is not None
        calls += verdict.model_calls
        said_fail, flagged = verdict.verdict == "fail", verdict.verdict != "pass"
        tp += bad and said_fail
        fp += (not bad) and said_fail
        fn += bad and not said_fail
        tn += (not bad) and not said_fail
        flagged_tp += bad and flagged
        flagged_fp += (not bad) and flagged
        if said_fail != bad:
            wrong.append({"id": case.id, "label": case.label, "verdict": verdict.verdict,
                          "reasons": verdict.reasons[:3]})  # fmt: skip
    bad_total = tp + fn
    seconds = sorted(s for _, _, s in judged)
    return {
        "cases": len(judged),
        "bad": bad_total,
        "good": len(judged) - bad_total,
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, bad_total),
        "flagged_precision": _ratio(flagged_tp, flagged_tp + flagged_fp),
        "flagged_recall": _ratio(flagged_tp, bad_total),
        "needs_review": review,
        "judge_errors": errors,
        "model_calls": calls,
        "seconds_p50": round(statistics.median(seconds), 2) if seconds else None,
        "seconds_p95": round(seconds[int(0.95 * (len(seconds) - 1))], 2) if seconds else None,
        "misjudged": wrong,
    }  # fmt: skip


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def main(argv: list[str]) -> int:
    judge = judge_from_settings(Settings.from_env())
    if judge is None:
        raise ConfigError("no judge configured (DAEMONS_JUDGE_MODEL)")
    cases = load_cases(Path(argv[0]) if argv else LABELED)
    print(json.dumps(asyncio.run(judge_precision_recall(judge, cases)), sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
