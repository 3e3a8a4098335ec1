"""Issue 17 (b): each daemon's eval set with and without worked examples recalled from memory.

    PYTHONPATH=. .venv/bin/python benchmarks/recalled_examples.py
    PYTHONPATH=. .venv/bin/python benchmarks/recalled_examples.py --daemons client-onboarding \
        --limit 5 --phases on

For each daemon (question-answering and client-onboarding: the two that recall worked
examples) it runs ``daemons eval``'s own pipeline (``run_eval``: tenant check, agent, checks,
the write-back; no judge) on the whole eval set twice, as one local model server sees them:

- **off**: no memory, the daemon as it runs without ``--memory``;
- **on**: each case reads a memory store of its own, seeded **leave-one-out** from the
  *other* cases' expected results — never the case's own answer. Each other case's expected
  result is written as the datum the daemon would have published, given the guardrail outcome
  its run would have had (``prompt_injection`` from screening its event, every other check
  passed) and turned into memory by the daemon's own ``UseCase.remember``: a case whose input
  reads as an instruction is refused there, as in the daemon, and seeds nothing. The store
  then holds episodes of every tenant; recall filters by the case's tenant in its query.

The embedder is the real MiniLM (each text embedded once and reused across the per-case
stores). Per daemon and phase: the score, pass rate, p50/p95 wall time per decision, prompt
tokens per decision (as the requests held them, and as the model server computed them after
its prefix cache, from its log), generated tokens, and — with memory — how many memories were
seeded, which cases' inputs were refused, how many examples a case's recall found and how many
its prompt showed (a dry pass with a scripted model first). The
machine's raw speed (prompt and generation tokens/s of the 1.5B model on a fixed prompt, no
cache) is measured at the start and at the end. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from decision_cost import _model_file, completions, percentile, raw_speed

from processors.daemons import registry
from processors.daemons.evaluation import EvalReport, load_cases, run_eval
from processors.daemons.usecase import SourcePosition
from processors.errors import MemoryWriteRefused
from processors.guardrails.screen import injection_check, screen_event
from processors.llm.config import LLMSettings
from processors.llm.fakes import FunctionModel, reply
from processors.llm.model import AssistantMessage, ModelRequest
from processors.llm.registry import load_model
from processors.memory.embedders import MiniLMEmbedder
from processors.memory.port import Embedder, MemoryStore
from processors.memory.records import MemoryRecord
from processors.memory.sqlite_store import SqliteMemoryStore
from processors.settings import Settings

MODEL = "qwen2.5-coder-1.5b"
DAEMONS = ("question-answering", "client-onboarding")


def _common(case: Mapping[str, Any]) -> dict[str, Any]:
    event = case["event"]
    return {
        "event_id": event["event_id"], "tenant_id": event["tenant_id"],
        "principal_id": event["principal_id"], "occurred_at": 1_790_000_000_000,
        "output_id": "", "run_id": f"eval-{case['id']}", "trace_id": "",
    }  # fmt: skip


def _answered(case: Mapping[str, Any]) -> dict[str, Any]:
    """A question-answering case's expected result as the daemon would publish it."""
    event, expected = case["event"], case["expected"]
    figures = [{"label": f["label"], "amount": f"{f['amount_minor'] / 100:.2f}",
                "amount_minor": f["amount_minor"], "currency": "USD",
                "record_ids": f["record_ids"], "resolved": True}
               for f in expected["figures"]]  # fmt: skip
    return {
        **_common(case), "question_id": event["question_id"], "question": event["question"],
        "can_answer": expected["can_answer"], "answer": "",
        "reason": None if expected["can_answer"] else expected.get("note") or None,
        "figures": figures, "periods": expected["periods"], "filters": expected["filters"],
    }  # fmt: skip


def _onboarded(case: Mapping[str, Any]) -> dict[str, Any]:
    """A client-onboarding case's expected result as the daemon would publish it."""
    event, expected = case["event"], case["expected"]
    answers = [{"question": k, "value": v, "confidence": 0.9, "evidence": []}
               for k, v in expected["answers"].items()]  # fmt: skip
    answers += [{"question": k, "value": None, "confidence": 0.0, "evidence": []}
                for k in expected["needs_human"]]  # fmt: skip
    return {
        **_common(case), "client_id": event["client_id"],
        "signup_answers": event.get("signup_answers") or {}, "answers": answers,
        "needs_human": expected["needs_human"],
    }  # fmt: skip


PUBLISHED: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "question-answering": _answered,
    "client-onboarding": _onboarded,
}


def approved_memories(daemon: str, case: Mapping[str, Any], index: int) -> list[MemoryRecord]:
    """What the daemon's own ``remember`` makes of a case's expected result (none when it
    refuses it: an input that reads as an instruction)."""
    use_case = registry.use_case(daemon)
    assert use_case.remember is not None, f"{daemon} remembers nothing"
    published = PUBLISHED[daemon](case)
    injection = injection_check(list(screen_event(case["event"])))
    outcome = {"run_id": published["run_id"], "tenant_id": published["tenant_id"],
               "verdict": "pass" if injection.passed else "fail",
               "checks": [injection.as_datum()]}  # fmt: skip
    source = SourcePosition(use_case.input_topic, 0, index)
    try:
        return use_case.remember(published, outcome, source)
    except MemoryWriteRefused:
        return []


class CachedEmbedder:
    """An embedder that embeds each text once (the per-case stores share most texts)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.cache = inner, dict[str, list[float]]()

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for text, vector in zip(missing, self.inner.embed(missing), strict=True):
            self.cache[text] = vector
        return [self.cache[t] for t in texts]


def examples_shown(
    daemon: str, cases: Sequence[Mapping[str, Any]], memory: LeaveOneOut
) -> list[int]:
    """How many examples each case's prompt shows (a dry pass: a scripted model that reads the
    prompt and answers nothing useful; the daemon decides what to show, not the model)."""
    counts: list[int] = []

    def model(request: ModelRequest) -> AssistantMessage:
        text = "\n".join(str(getattr(m, "content", "") or "") for m in request.messages)
        fence = '<untrusted source="memory">\n'
        if fence in text:  # question-answering: one line per example
            counts.append(len(text.split(fence)[1].split("\n</untrusted>")[0].splitlines()))
        elif 'recall: {"' in text:  # client-onboarding: the recall's view
            shown = json.loads(text.split("recall: ")[1].split("\n</untrusted>")[0])
            counts.append(len(shown.get("examples", [])))
        else:
            counts.append(0)
        return reply(DRY_ANSWERS[daemon])

    run_eval(daemon, FunctionModel(model), cases=cases, memory=memory)
    return counts


DRY_ANSWERS: dict[str, dict[str, Any]] = {
    "question-answering": {"missing": "other", "metric": "money_paid", "account": "none",
                           "vendor": "none", "periods": [], "by_vendor": False},
    "client-onboarding": {"answers": []},
}  # fmt: skip


class LeaveOneOut:
    """Gives each case a store of its own holding the *other* cases' approved memories; counts
    the same-tenant memories it held and the examples the daemon's recall finds there."""

    def __init__(
        self, daemon: str, cases: Sequence[Mapping[str, Any]], where: Path, embedder: Embedder
    ) -> None:
        self.daemon, self.where, self.embedder = daemon, where, embedder
        where.mkdir(parents=True, exist_ok=True)
        self.learned = {str(c["id"]): approved_memories(daemon, c, i) for i, c in enumerate(cases)}
        self.stores: list[MemoryStore] = []
        self.same_tenant: dict[str, int] = {}
        self.recalled: dict[str, int] = {}

    def __call__(self, case: Mapping[str, Any]) -> MemoryStore:
        own, event = str(case["id"]), case["event"]
        store = SqliteMemoryStore(self.where / f"{self.daemon}-{own}.sqlite", self.embedder)
        records = [r for other, rs in self.learned.items() if other != own for r in rs]
        for offset, record in enumerate(records):
            assert record.provenance.run_id != f"eval-{own}", "a case's own answer seeded"
            store.apply(record.key, record, partition=0, offset=offset)
        self.same_tenant[own] = sum(r.tenant_id == event["tenant_id"] for r in records)
        recall = registry.use_case(self.daemon).recall
        gathered = recall.gather(event) if recall is not None and recall.gather else []
        self.recalled[own] = sum(
            len(store.search(event["tenant_id"], c.arguments["query"], kinds=["episode"],
                             entity_kind=c.arguments["entity_kind"], k=c.arguments["k"]))
            for c in gathered if c.name == "recall"
        )  # fmt: skip
        self.stores.append(store)
        return store

    def summary(self) -> dict[str, Any]:
        return {
            "seeded": sum(map(len, self.learned.values())),
            "refused_cases": sorted(k for k, v in self.learned.items() if not v),
            "same_tenant_memories_per_case_p50": statistics.median(self.same_tenant.values()),
            "examples_recalled_per_case": round(
                statistics.mean(self.recalled.values()), 2) if self.recalled else 0.0,
        }  # fmt: skip

    def close(self) -> None:
        for store in self.stores:
            store.close()


def figures(report: EvalReport, calls: list[dict[str, float]]) -> dict[str, Any]:
    cases = report.cases
    n = len(cases) or 1
    walls = [c.latency_s for c in cases]
    computed = sum(c["computed"] for c in calls)
    cached = sum(c["cached"] for c in calls)
    return {
        "cases": len(cases),
        "score": round(report.score, 3),
        "pass_rate": round(report.pass_rate, 3),
        "wall_p50_s": round(statistics.median(walls), 2) if walls else 0.0,
        "wall_p95_s": round(percentile(walls, 0.95), 2),
        "prompt_tokens_per_decision": round(report.input_tokens / n, 1),
        "prompt_tokens_p50": statistics.median(c.input_tokens for c in cases) if cases else 0,
        "computed_prompt_tokens_per_decision": round(computed / n, 1),
        "cached_share": round(cached / (computed + cached), 3) if computed + cached else 0.0,
        "generated_tokens_per_decision": round(report.output_tokens / n, 1),
        "model_calls": len(calls),
        "errors": report.errors,
        "per_case": {c.case_id: round(c.score, 3) for c in cases},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--daemons", default=",".join(DAEMONS))
    parser.add_argument("--limit", type=int, default=None, help="only the first N cases")
    parser.add_argument("--phases", default="off,on", help="off, on, or both in that order")
    args = parser.parse_args(argv)
    daemons = [d for d in args.daemons.split(",") if d]
    phases = [p for p in args.phases.split(",") if p]
    from processors.testing.llm import local_model_server

    python = sys.executable
    model_path = _model_file(python)
    print(f"raw speed of {MODEL} …", file=sys.stderr, flush=True)
    result: dict[str, Any] = {"model": MODEL, "raw_speed": raw_speed(python, model_path)}
    print(f"raw speed: {result['raw_speed']}", file=sys.stderr, flush=True)
    embedder = CachedEmbedder(MiniLMEmbedder())
    llm = Settings.from_env().llm
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "llm.log"
        with local_model_server(MODEL, ctx=8192, log=log) as url:
            settings: LLMSettings = llm.model_copy(update={"local_base_url": url})
            for daemon in daemons:
                cases = load_cases(daemon)[: args.limit]
                result[daemon] = {}
                for phase in phases:
                    memory, shown = None, []
                    if phase == "on":
                        dry = LeaveOneOut(daemon, cases, Path(tmp) / "dry", embedder)
                        shown = examples_shown(daemon, cases, dry)
                        dry.close()
                        memory = LeaveOneOut(daemon, cases, Path(tmp) / "run", embedder)
                    seen = len(completions(log.read_text(errors="replace")))
                    started = time.monotonic()
                    print(f"[{daemon} memory {phase}] {len(cases)} cases …", file=sys.stderr,
                          flush=True)  # fmt: skip
                    model = load_model(f"local:{MODEL}", settings)
                    report = run_eval(daemon, model, cases=cases, memory=memory)
                    calls = completions(log.read_text(errors="replace"))[seen:]
                    got = figures(report, calls) | {"elapsed_s": round(time.monotonic() - started)}
                    if memory is not None:
                        got |= memory.summary() | {
                            "examples_shown_per_case": round(statistics.mean(shown), 2),
                            "cases_shown_an_example": sum(n > 0 for n in shown),
                        }
                        memory.close()
                    result[daemon][phase] = got
                    print(f"[{daemon} memory {phase}] {json.dumps(got)}", file=sys.stderr,
                          flush=True)  # fmt: skip
    result["raw_speed_end"] = raw_speed(python, model_path)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
