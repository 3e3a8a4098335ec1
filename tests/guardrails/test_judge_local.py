"""The REAL local judge (slow): the 0.5B model, served by ``daemons llm serve``, judges a few
labeled cases through the forced, schema-constrained verdict call. A small model may judge
wrongly; what must hold is that every answer is a valid verdict (no ``judge error``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from processors.daemons.judge_eval import judge_precision_recall, load_cases
from processors.guardrails.judge import Judge
from processors.llm.config import LLMSettings
from processors.llm.registry import load_model
from processors.testing.llm import TEST_THREADS, local_model_server, missing_extra

pytestmark = pytest.mark.slow
JUDGE = "qwen2.5-coder-0.5b"


@pytest.fixture(scope="module")
def judge_url() -> Iterator[str]:
    reason = missing_extra(JUDGE)
    if reason:
        pytest.skip(reason)
    with local_model_server(JUDGE, ctx=8192, threads=TEST_THREADS) as base_url:
        yield base_url


@pytest.mark.timeout(1200)
def test_the_local_judge_returns_valid_verdicts(judge_url: str) -> None:
    model = load_model(f"local:{JUDGE}", LLMSettings(local_base_url=judge_url))
    judge = Judge(model, primary="local:qwen2.5-coder-1.5b")
    cases = load_cases()
    bad = [c for c in cases if c.label == "fail"][:3]
    sample = bad + [c for c in cases if c.label == "pass"][:3]
    report = asyncio.run(judge_precision_recall(judge, sample))
    print(report)
    assert report["cases"] == 6
    assert report["judge_errors"] == 0, report
