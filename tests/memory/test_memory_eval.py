"""The memory eval (benchmark (c)): its case file loads and covers every category, its scoring
lowers the score for each kind of wrong store answer, and the deterministic categories are
all right on the SQLite store with MiniLM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from processors.errors import ConfigError
from processors.memory.embedders import MiniLMEmbedder
from processors.memory.evaluation import (
    CATEGORIES,
    EvalCase,
    Found,
    load_cases,
    records_of,
    run,
    score,
    summary,
)
from processors.memory.sqlite_store import SqliteMemoryStore
from processors.testing.memory import Feed

CASES = Path(__file__).resolve().parents[2] / "examples" / "memory" / "eval_cases.jsonl"


def _case(**overrides: Any) -> EvalCase:
    body: dict[str, Any] = {
        "id": "c", "category": "changed_fact", "tenant": "t1",
        "memories": [
            {"entity": "client:c-1", "attribute": "bank", "value": "Old Bank",
             "valid_from": "2025-01-01"},
            {"entity": "client:c-1", "attribute": "bank", "value": "New Bank",
             "valid_from": "2026-01-01"},
        ],
        "ask": {"facts": "client:c-1"},
        "expect": {"attribute": "bank", "value": "New Bank"},
    }  # fmt: skip
    body.update(overrides)
    return EvalCase.model_validate(body)


def test_the_case_file_has_30_cases_or_more_in_every_category() -> None:
    cases = load_cases(CASES)
    assert len(cases) >= 30
    counts = {c: sum(case.category == c for case in cases) for c in CATEGORIES}
    assert all(n >= 5 for n in counts.values()), counts
    records = records_of(cases)
    owners: dict[str, set[str]] = {}
    for case in cases:
        for record in case.records():
            owners.setdefault(record.key, set()).add(case.id)
    shared = {key: ids for key, ids in owners.items() if len(ids) > 1}
    assert shared == {}, "two cases write the same memory (a restatement stays in its case)"
    assert len({r.tenant_id for r in records}) >= 3


def test_the_right_answer_passes_and_the_superseded_one_fails() -> None:
    case = _case()
    new, old = case.records()[1], case.records()[0]
    assert score(case, [Found(new)]).passed
    wrong = score(case, [Found(old)])
    assert not wrong.passed and "Old Bank" in wrong.why
    both = score(case, [Found(old), Found(new)])  # the old value not superseded
    assert not both.passed


def test_a_wrong_store_answer_lowers_the_category_score() -> None:
    case = _case()
    new, old = case.records()[1], case.records()[0]
    right = [score(case, [Found(new)]), score(case, [Found(new)])]
    one_wrong = [score(case, [Found(new)]), score(case, [Found(old)])]
    assert summary(right)["changed_fact"]["score"] == 1.0
    assert summary(one_wrong)["changed_fact"]["score"] == 0.5
    assert summary(one_wrong)["all"] == {"cases": 2, "passed": 1, "score": 0.5}


def test_another_tenants_memory_fails_any_case() -> None:
    case = _case()
    foreign = case.records()[1].model_copy(update={"tenant_id": "t2"})
    result = score(case, [Found(foreign)])
    assert not result.passed and "another tenant" in result.why


def test_not_known_fails_when_something_close_comes_back() -> None:
    case = _case(category="not_known", memories=[], ask={"search": "who is our broker"},
                 expect={"nothing": True})  # fmt: skip
    near = _case().records()[1]
    assert score(case, []).passed
    assert score(case, [Found(near, similarity=0.2)], threshold=0.5).passed
    close = score(case, [Found(near, similarity=0.7)], threshold=0.5)
    assert not close.passed and "not known" in close.why and close.similarity == 0.7
    facts = _case(category="not_known", ask={"facts": "client:c-9"}, expect={"nothing": True})
    assert not score(facts, [Found(near)]).passed


def test_a_search_must_rank_the_expected_memory_within_its_cut() -> None:
    case = _case(category="meaning", ask={"search": "where do we bank"},
                 expect={"memory": "client:c-1:bank", "value": "New Bank", "within": 1,
                         "absent_values": ["Old Bank"]})  # fmt: skip
    old, new = case.records()
    other = new.model_copy(update={"attribute": "payroll_provider", "value": "Gusto"})
    assert score(case, [Found(new, 0.6), Found(other, 0.3)]).passed
    assert not score(case, [Found(other, 0.6), Found(new, 0.3)]).passed  # second, cut is 1
    assert not score(case, [Found(new, 0.6), Found(old, 0.5)]).passed  # the old value too
    probe = _case(category="cross_tenant", ask={"search": "New Bank"},
                  expect={"absent_memories": ["client:c-1:bank"]})  # fmt: skip
    assert not score(probe, [Found(new)]).passed


def test_a_bad_case_line_names_the_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "cases.jsonl"
    good = _case().model_dump(exclude_defaults=True)
    bad = {**good, "id": "b", "ask": {"facts": "planet:p-1"}}
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(bad) + "\n")
    with pytest.raises(ConfigError, match=r"cases.jsonl:3: ask.*planet"):
        load_cases(path)
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n")
    with pytest.raises(ConfigError, match=r":2: id: 'c' is used twice"):
        load_cases(path)


def test_the_deterministic_categories_are_right_on_sqlite(
    tmp_path: Path, minilm: MiniLMEmbedder
) -> None:
    """Changed facts, as_of, cross-tenant and keyword cases do not depend on how well the
    embedder reads meaning: every one must be right (search by meaning and "not known" are
    the benchmark's figures, not a test's)."""
    cases = load_cases(CASES)
    store = SqliteMemoryStore(tmp_path / "eval.sqlite", minilm)
    try:
        Feed(store).put(*records_of(cases))
        results = run(store, cases, minilm)
    finally:
        store.close()
    table = summary(results)
    failures = {r.case_id: r.why for r in results if not r.passed}
    for category in ("as_of", "cross_tenant", "keyword"):
        assert table[category]["score"] == 1.0, failures
