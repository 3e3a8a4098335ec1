"""``daemons promote`` end to end through the real broker, with scripted models
(tests/promote/data): the question-answering daemon, one held-out question it can answer
(green-coffee-q2) and two it must refuse (revenue-forecast, average-salary).

The daemon's current configuration gives up on the held-out question. ``regresses`` answers
it but invents an answer to the salary question: refused, configuration unchanged.
``better`` answers it and still refuses both: promoted, and ``daemons run`` then uses it.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from processors.cli import main
from processors.cli.run import _promoted
from processors.compare.config import load_config
from processors.daemons import evaluation, registry
from processors.kafka.admin import apply_topics
from processors.kafka.clients import Contracts, admin_client
from processors.promote import store
from processors.settings import Settings

pytestmark = pytest.mark.kafka
DATA = Path(__file__).parent / "data"
DAEMON = "question-answering"
GUARD_IDS = ("revenue-forecast", "average-salary")


def _cases(path: Path, ids: tuple[str, ...]) -> Path:
    lines = evaluation.eval_set(DAEMON).cases.read_text().splitlines()
    chosen = [line for line in lines if line.strip() and json.loads(line)["id"] in ids]
    assert len(chosen) == len(ids)
    path.write_text("\n".join(chosen) + "\n")
    return path


@pytest.fixture
def env(kafka: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = kafka.model_copy(update={"topic_prefix": f"p{uuid.uuid4().hex[:10]}."})
    apply_topics(admin_client(settings), Contracts.load(settings).catalog)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", settings.kafka.bootstrap_servers)
    monkeypatch.setenv("DAEMONS_TOPIC_PREFIX", settings.topic_prefix)
    monkeypatch.setenv("DAEMONS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("DAEMONS_JUDGE_MODEL", raising=False)
    store.write(tmp_path / "config", DAEMON, load_config(DATA / "current.toml"), ["the start"])
    return Settings.from_env()


def _promote(
    tmp_path: Path, candidate: str, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    html = tmp_path / f"{candidate}.html"
    code = main([
        "promote", DAEMON, "--candidate", str(DATA / f"{candidate}.toml"),
        "--eval-set", str(_cases(tmp_path / "heldout.jsonl", ("green-coffee-q2",))),
        "--guard-set", str(_cases(tmp_path / "guard.jsonl", GUARD_IDS)),
        "--margin", "0.1", "--tolerance", "0.0", "--html", str(html), "--timeout", "120",
    ])  # fmt: skip
    return code, json.loads(capsys.readouterr().out)


def test_a_candidate_that_regresses_on_cannot_answer_cases_is_refused(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = store.config_path(env.config_dir, DAEMON)
    before = path.read_bytes()
    code, report = _promote(tmp_path, "regresses", capsys)
    assert code == 1 and report["promote"] is False
    assert report["heldout"]["baseline"] == 0.0 and report["heldout"]["candidate"] == 1.0
    assert report["guard"]["baseline"] == 1.0 and report["guard"]["candidate"] == 0.5
    assert report["regressed_guard_cases"] == ["average-salary"]
    assert path.read_bytes() == before  # the configuration is unchanged
    html = (tmp_path / "regresses.html").read_text()
    assert "Promotion gate: Refused" in html and "average-salary" in html


def test_a_better_candidate_is_promoted_and_daemons_run_uses_it(
    env: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = _promote(tmp_path, "better", capsys)
    assert code == 0 and report["promote"] is True
    assert report["guard"] == {"baseline": 1.0, "candidate": 1.0, "cases": 2}
    promoted = store.current(env.config_dir, DAEMON)
    assert promoted is not None
    assert promoted.model == f"scripted:{(DATA / 'better.json').resolve()}"
    assert "Promotion gate: Promoted" in (tmp_path / "better.html").read_text()
    # what daemons run resolves the daemon with: the promoted model instead of DAEMONS_MODEL
    _, settings = _promoted(DAEMON, registry.use_case(DAEMON), Settings.from_env())
    assert settings.model == promoted.model and settings.judge_model == "none"
