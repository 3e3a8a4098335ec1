"""Which cases guard the gate, and how a promoted configuration is written and read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from processors.compare.config import load_config
from processors.daemons import evaluation
from processors.errors import ConfigError
from processors.promote import store
from processors.promote.gate import guard_kind

DATA = Path(__file__).parent / "data"


def test_the_question_answering_cases_that_cannot_be_answered_are_guard_cases() -> None:
    lines = evaluation.eval_set("question-answering").cases.read_text().splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    guards = {c["id"] for c in cases if guard_kind(c)}
    assert guards == {c["id"] for c in cases if c["expected"]["can_answer"] is False}
    assert {"revenue-forecast", "average-salary"} <= guards


def test_guard_kinds_from_labels_and_explicit_marks() -> None:
    unknown = {"website": "unknown", "phone": "unknown", "merchant_category_code": "unknown"}
    assert guard_kind({"id": "v", "expected": unknown}) == "cannot_answer"
    assert guard_kind({"id": "v", "expected": {**unknown, "name": "Acme"}}) is None
    assert guard_kind({"id": "b", "expected": {"verdict": "fail"}}) == "blocked"
    assert guard_kind({"id": "x", "guard": "blocked", "expected": {"name": "Acme"}}) == "blocked"
    assert guard_kind({"id": "y", "expected": {"can_answer": True}}) is None


def test_a_written_configuration_reads_back_with_absolute_paths(tmp_path: Path) -> None:
    config = load_config(DATA / "better.toml")
    path = store.write(tmp_path / "conf", "question-answering", config, ["why: a test"])
    text = path.read_text()
    assert text.startswith("# why: a test\n")
    again = store.current(tmp_path / "conf", "question-answering")
    assert again is not None
    assert again.model == f"scripted:{DATA.resolve() / 'better.json'}"
    assert again.judge_model == "none"
    assert store.current(tmp_path / "conf", "client-onboarding") is None


def test_a_configuration_that_does_not_read_back_is_not_written(tmp_path: Path) -> None:
    config = load_config(DATA / "better.toml").model_copy(update={"name": "bad name!"})
    with pytest.raises(ConfigError):
        store.write(tmp_path, "question-answering", config, [])
    assert not store.config_path(tmp_path, "question-answering").exists()
