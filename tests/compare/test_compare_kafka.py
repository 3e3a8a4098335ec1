"""``daemons compare`` end to end through the real broker: the question-answering daemon under
two scripted configurations (tests/compare/data), three labeled cases.

The scripts differ on purpose, so the differences are real:

- green-coffee-q2: baseline cites the ledger's 5605.50 (right, score 1); candidate says it
  cannot answer (published, score 0; its scripted judge lets the refusal pass).
- revenue-forecast: both refuse, with different reasons (both score 1; the judge passes).
- average-salary: baseline refuses (score 1); candidate totals payroll processing fees, which
  its scripted judge fails (fees are no salaries: score 0).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from processors.cli import main
from processors.compare import Comparison, TopicRange, load_config, run_comparison
from processors.compare.html import render_html
from processors.daemons import evaluation
from processors.kafka.admin import apply_topics
from processors.kafka.clients import Contracts, admin_client
from processors.serde.json_codec import from_json
from processors.settings import Settings
from processors.testing.runtime import drain_topic, produce_events

pytestmark = pytest.mark.kafka
ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
CASE_IDS = ("green-coffee-q2", "revenue-forecast", "average-salary")
DAEMON = "question-answering"
# every topic the daemon writes, plus its input: none may be touched by a comparison
PRODUCTION = ("questions.asked", "questions.answered", "guardrails.outcomes", "guardrails.review",
              "daemons.runs", "question-answering.dlq")  # fmt: skip
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def write_eval_set(path: Path) -> Path:
    lines = evaluation.eval_set(DAEMON).cases.read_text().splitlines()
    chosen = [line for line in lines if line.strip() and json.loads(line)["id"] in CASE_IDS]
    assert len(chosen) == len(CASE_IDS)
    path.write_text("\n".join(chosen) + "\n")
    return path


@pytest.fixture(scope="module")
def production(kafka: Settings) -> Settings:
    """A "production" prefix with every catalog topic created (and nothing in them)."""
    settings = kafka.model_copy(update={"topic_prefix": f"c{uuid.uuid4().hex[:10]}."})
    apply_topics(admin_client(settings), Contracts.load(settings).catalog)
    return settings


@pytest.fixture(scope="module")
def compared(
    production: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Comparison]:
    eval_set = write_eval_set(tmp_path_factory.mktemp("compare") / "cases.jsonl")
    yield run_comparison(
        DAEMON, load_config(DATA / "baseline.toml"), load_config(DATA / "candidate.toml"),
        production, eval_set=eval_set, timeout=120, keep_shadow=True,
    )  # fmt: skip


def by_case(comparison: Comparison) -> dict[str, Any]:
    return {row.case_id: row for row in comparison.cases}


def test_compare_reports_the_per_case_differences_of_the_two_configurations(
    compared: Comparison,
) -> None:
    rows = by_case(compared)
    assert list(rows) == list(CASE_IDS)
    coffee, forecast, salary = (rows[c] for c in CASE_IDS)

    assert (coffee.baseline.state, coffee.baseline.score) == ("published", 1.0)
    assert (coffee.candidate.state, coffee.candidate.score) == ("published", 0.0)
    changed = {d.path: (d.baseline, d.candidate) for d in coffee.diffs}
    assert changed["can_answer"] == (True, False)
    assert changed["figures[0].amount_minor"] == (560550, "(absent)")
    assert changed["figures[0].record_ids[1]"] == ("tx-r-007", "(absent)")
    assert not any(path.startswith(("run_id", "trace_id", "occurred_at")) for path in changed)

    assert forecast.baseline.score == forecast.candidate.score == 1.0
    # both cannot answer, for another missing kind: code's sentence and reason differ
    assert [d.path for d in forecast.diffs] == ["answer", "reason"]

    assert (salary.baseline.state, salary.baseline.score) == ("published", 1.0)
    assert (salary.candidate.state, salary.candidate.score) == ("withheld", 0.0)
    assert salary.candidate.verdict == "fail"  # the candidate's judge: fees are no salaries
    (reason,) = salary.candidate.reasons  # the judge read the question as not about fees
    assert reason.startswith("subject_matches: no — read 'none of these")
    assert reason.endswith("payroll fees are not salaries")
    assert [(d.path, d.baseline, d.candidate) for d in salary.diffs] == [
        ("(output)", "published", "(no output)")
    ]
    assert compared.changed == 3


def test_compare_totals_accuracy_pass_rate_judge_tokens_cost_and_latency(
    compared: Comparison,
) -> None:
    b, c = compared.baseline, compared.candidate
    assert (b.accuracy, b.labeled, b.pass_rate, b.published) == (1.0, 3, 1.0, 3)
    assert c.accuracy == pytest.approx(1 / 3) and c.labeled == 3
    assert c.pass_rate == pytest.approx(2 / 3) and c.published == 2
    assert c.states == {"published": 2, "withheld": 1}
    # judge scores only where a judge ran: none for the baseline, every case of the candidate
    assert b.judge == {} and b.judged == 0
    assert c.judged == 3
    # per criterion asked: the two refusals read as justified, the fees as no salaries
    assert c.judge == pytest.approx({"cannot_answer_justified": 1.0, "subject_matches": 0.0})
    rows = by_case(compared)
    assert rows["average-salary"].candidate.judge == {"subject_matches": 0.0}
    # tokens and cost from the run records; the scripts charge 0.001 and 0.004 USD per 1k
    for side, rate in ((b, 0.001), (c, 0.004)):
        assert side.input_tokens > 0 and side.output_tokens > 0
        assert side.cost_usd == pytest.approx(
            (side.input_tokens + side.output_tokens) * rate / 1000
        )
    assert sum(r.baseline.input_tokens for r in compared.cases) == b.input_tokens
    # the candidate's script waits 60 ms per model call, one call per run
    assert c.latency_ms_median is not None and c.latency_ms_median >= 60
    assert b.latency_ms_median is not None and b.latency_ms_median < c.latency_ms_median
    assert (b.model, c.model) == ("scripted:baseline", "scripted:candidate")


def test_compare_replays_into_shadow_topics_and_leaves_production_untouched(
    compared: Comparison, production: Settings
) -> None:
    contracts = Contracts.load(production)
    for topic in PRODUCTION:
        assert drain_topic(production, contracts, topic, idle=1.0) == [], topic
    for side, published in ((compared.baseline, 3), (compared.candidate, 2)):
        assert side.shadow_prefix.startswith(f"{production.topic_prefix}shadow.{side.name}.")
        assert all(t.startswith(side.shadow_prefix) for t in side.shadow_topics.values())
        shadow = production.model_copy(update={"topic_prefix": side.shadow_prefix})
        shadow_contracts = Contracts.load(shadow)
        inputs = drain_topic(shadow, shadow_contracts, "questions.asked", idle=1.0)
        assert sorted(r["value"]["event_id"] for r in inputs) == sorted(
            row.event_id for row in compared.cases
        )
        results = drain_topic(shadow, shadow_contracts, "questions.answered", idle=1.0)
        assert len(results) == published == side.records_read["questions.answered"]
        assert side.records_read["guardrails.outcomes"] == 3
        assert side.records_read["daemons.runs"] == 3


def test_html_report_renders_in_headless_chromium_with_charts_and_case_rows(
    compared: Comparison, tmp_path: Path
) -> None:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (`make system-deps` installs Debian chromium)")
    page = tmp_path / "report.html"
    page.write_text(render_html(compared), encoding="utf-8")
    source = page.read_text()
    assert "<script" not in source and "src=" not in source and "href=" not in source
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    assert dom.count("<svg") >= 7  # accuracy, pass rate, 2 judge scores, tokens, cost, latency
    assert dom.count('class="bar"') >= 16
    assert dom.count('<tr class="case') == 3
    for case_id in CASE_IDS:
        assert f'data-case="{case_id}"' in dom
    assert "do not hold the data for that" in dom  # a field difference, rendered
    screenshot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={screenshot}",
         "--window-size=1280,2000", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert screenshot.stat().st_size > 10_000


def test_cli_compare_prints_json_writes_html_and_removes_its_shadow_topics(
    production: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", production.kafka.bootstrap_servers)
    monkeypatch.setenv("DAEMONS_TOPIC_PREFIX", production.topic_prefix)
    monkeypatch.delenv("DAEMONS_JUDGE_MODEL", raising=False)
    html = tmp_path / "out.html"
    code = main([
        "compare", DAEMON, "--baseline", str(DATA / "baseline.toml"),
        "--candidate", str(DATA / "candidate.toml"),
        "--eval-set", str(write_eval_set(tmp_path / "cases.jsonl")),
        "--json", "--html", str(html), "--timeout", "120",
    ])  # fmt: skip
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["baseline"]["accuracy"] == 1.0
    assert report["candidate"]["pass_rate"] == pytest.approx(2 / 3)
    assert [c["changed"] for c in report["cases"]] == [True, True, True]
    assert "<svg" in html.read_text()
    topics = admin_client(production).list_topics(timeout=10).topics
    for side in ("baseline", "candidate"):
        prefix = report[side]["shadow_prefix"]
        assert prefix.startswith(f"{production.topic_prefix}shadow.{side}.")
        assert not [t for t in topics if t.startswith(prefix)], "shadow topics left behind"


def test_topic_range_replays_production_events_without_writing_to_production(
    production: Settings, tmp_path: Path
) -> None:
    settings = production.model_copy(update={"topic_prefix": f"r{uuid.uuid4().hex[:10]}."})
    contracts = Contracts.load(settings)
    apply_topics(admin_client(settings), contracts.catalog)
    schema = contracts.schemas.get(contracts.catalog.get("questions.asked").value_schema)
    lines = evaluation.eval_set(DAEMON).cases.read_text().splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    events = [from_json(schema.parsed, c["event"]) for c in cases if c["id"] in CASE_IDS[1:]]
    produce_events(settings, contracts, "questions.asked", events, partition=0)

    comparison = run_comparison(
        DAEMON, load_config(DATA / "baseline.toml"), load_config(DATA / "candidate.toml"),
        settings, topic_ranges=[TopicRange.parse("questions.asked:0:0-1")], timeout=120,
    )  # fmt: skip

    assert [row.case_id for row in comparison.cases] == [
        "questions.asked:0:0",
        "questions.asked:0:1",
    ]
    assert comparison.baseline.accuracy is None and comparison.baseline.labeled == 0
    assert comparison.baseline.pass_rate == 1.0
    assert comparison.candidate.pass_rate == 0.5  # the judge fails fees for salaries
    assert len(drain_topic(settings, contracts, "questions.asked", idle=1.0)) == 2
    for topic in PRODUCTION[1:]:
        assert drain_topic(settings, contracts, topic, idle=1.0) == [], topic
