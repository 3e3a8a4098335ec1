"""The labeled judge set is well-formed, and precision/recall are computed from real verdicts."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from processors.daemons import registry
from processors.daemons.judge_eval import LABELED, judge_precision_recall, load_cases
from processors.guardrails.judge import Judge, JudgeVerdict
from processors.kafka.clients import Contracts
from processors.llm.fakes import ScriptedModel
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


class _ScriptedJudge(Judge):
    """A judge whose verdict per case is scripted (found by a marker in its event), so the
    arithmetic of the report is what is tested; it counts one model call per case."""

    def __init__(self, verdicts: dict[str, str]) -> None:
        super().__init__(ScriptedModel([], name="function:judge"), primary="local:primary")
        self.verdicts = verdicts

    async def evaluate(self, **kwargs: Any) -> JudgeVerdict:
        text = json.dumps(kwargs["event"])
        (verdict,) = [v for marker, v in self.verdicts.items() if marker in text]
        assert kwargs["criteria"] is not None  # the daemons are judged by their criteria
        return JudgeVerdict(verdict=verdict, reasons=[f"scripted {verdict}"],
                            judge_model=self.name, model_calls=1)  # fmt: skip


def _marked(case: dict[str, Any], marker: str) -> dict[str, Any]:
    """The case with ``marker`` in the event text every criterion shows the judge."""
    event = dict(case["event"])
    for key in ("question", "raw_descriptor"):
        if key in event:
            event[key] = f"{event[key]} {marker}"
    if "signup_answers" in event:
        event["signup_answers"] = {**event["signup_answers"], "note": marker}
    return {**case, "event": event}


def test_precision_and_recall_of_fail_detection_overall_and_per_daemon() -> None:
    raw = {c["id"]: c for c in map(json.loads, LABELED.read_text().splitlines())}
    ids = [
        "qa-bad-invented-amount",
        "qa-bad-wrong-question",
        "qa-bad-period-coffee",
        "ve-bad-similar-name-blue",
        "qa-good-coffee",
        "ve-good-bluebottle",
        "co-good-quill",
    ]
    # bad: fail, fail, needs_review, pass; good: fail, pass, pass
    plan = ["fail", "fail", "needs_review", "pass", "fail", "pass", "pass"]
    cases = [_marked(raw[i], f"zz{n}zz") for n, i in enumerate(ids)]
    judge = _ScriptedJudge({f"zz{n}zz": v for n, v in enumerate(plan)})

    report = asyncio.run(judge_precision_recall(judge, cases))

    assert (report["tp"], report["fn"], report["fp"], report["tn"]) == (2, 2, 1, 2)
    assert report["precision"] == round(2 / 3, 4)
    assert report["recall"] == 0.5
    assert report["flagged_recall"] == 0.75 and report["flagged_precision"] == 0.75
    assert report["needs_review"] == 1 and report["judge_errors"] == 0
    assert report["cases"] == 7 and report["bad"] == 4
    assert {m["id"] for m in report["misjudged"]} == set(ids[2:5])
    assert report["model_calls"] == len(ids) and report["seconds_p50"] is not None
    qa, vendor = report["by_daemon"]["question-answering"], report["by_daemon"]["vendor-enrichment"]
    assert (qa["tp"], qa["fn"], qa["fp"], qa["tn"]) == (2, 1, 1, 0)
    assert (vendor["tp"], vendor["fn"], vendor["fp"], vendor["tn"]) == (0, 1, 0, 1)
    assert report["by_daemon"]["client-onboarding"]["tn"] == 1
