"""The labeled judge set is well-formed, and precision/recall are computed from real verdicts."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from typing import Any

from processors.daemons import registry
from processors.daemons.judge_eval import LABELED, judge_precision_recall, load_cases
from processors.guardrails.judge import VERDICT_TOOL, Judge
from processors.kafka.clients import Contracts
from processors.llm.fakes import FunctionModel, call, tool_calls
from processors.llm.model import ModelRequest
from processors.serde.json_codec import from_json
from processors.settings import Settings


def test_the_labeled_set_covers_every_daemon_with_good_and_bad_valid_events() -> None:
    cases = load_cases()
    assert len(cases) >= 20
    assert len({c.id for c in cases}) == len(cases)
    labels = Counter((c.daemon, c.label) for c in cases)
    for name in registry.names(of="process-daemons"):
        assert labels[(name, "pass")] >= 2 and labels[(name, "fail")] >= 3, labels
    contracts = Contracts.load(Settings())
    for case in cases:
        spec = contracts.catalog.get(registry.use_case(case.daemon).input_topic)
        from_json(contracts.schemas.get(spec.value_schema).parsed, case.event)  # raises if bad
        assert case.evidence, case.id


def _scripted_judge(verdicts: dict[str, str]) -> Judge:
    """Plays a judge that answers per case (found by the principal id in the prompt)."""

    def respond(request: ModelRequest) -> Any:
        user = request.messages[-1].content
        (verdict,) = [
            v for event_id, v in verdicts.items() if re.search(rf"\b{event_id}(?![\w-])", user)
        ]
        return tool_calls(
            call(
                VERDICT_TOOL,
                {
                    "verdict": verdict,
                    "scores": {"grounded": 0.5, "complete": 0.5, "policy": 0.5},
                    "reasons": [f"scripted {verdict}"],
                },
            )
        )

    return Judge(FunctionModel(respond, name="function:judge"), primary="local:primary")


def test_precision_and_recall_of_fail_detection() -> None:
    raw = [json.loads(line) for line in LABELED.read_text().splitlines()]
    bad = [c for c in raw if c["label"] == "fail"][:4]
    good = [c for c in raw if c["label"] == "pass"][:3]
    cases = [*bad, *good]
    for i, case in enumerate(cases):  # event ids unique per case, found in the task prompt
        case["event"] = {**case["event"], "principal_id": f"u-case-{i}"}
    # bad: fail, fail, needs_review, pass; good: fail, pass, pass
    plan = ["fail", "fail", "needs_review", "pass", "fail", "pass", "pass"]
    judge = _scripted_judge(
        {c["event"]["principal_id"]: v for c, v in zip(cases, plan, strict=True)}
    )

    report = asyncio.run(judge_precision_recall(judge, cases))

    assert (report["tp"], report["fn"], report["fp"], report["tn"]) == (2, 2, 1, 2)
    assert report["precision"] == round(2 / 3, 4)
    assert report["recall"] == 0.5
    assert report["flagged_recall"] == 0.75 and report["flagged_precision"] == 0.75
    assert report["needs_review"] == 1 and report["judge_errors"] == 0
    assert report["cases"] == 7 and report["bad"] == 4
    assert {m["id"] for m in report["misjudged"]} == {
        cases[2]["id"],
        cases[3]["id"],
        cases[4]["id"],
    }
