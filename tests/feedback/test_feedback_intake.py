"""The feedback intake against the real broker: good feedback reaches daemons.feedback, bad
feedback is dead-lettered with the reason, and a plain Avro producer is all a sender needs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from feedback_support import T0, feedback, run_record

from processors.daemons.vendor_enrichment.models import VendorProfile
from processors.errors import FeedbackRejected, InvalidCorrection, OtherTenantsRun, UnknownRun
from processors.feedback.contract import accept, correction_problems
from processors.feedback.intake import build_intake
from processors.feedback.runs import RunFacts, RunIndex
from processors.kafka.clients import Contracts
from processors.runtime.runner import Mode, Runner
from processors.settings import Settings
from processors.testing.runtime import RunnerThread, produce_events, read_topic

ROOT = Path(__file__).resolve().parents[2]
RUN = RunFacts("r1", "acme", "vendor-enrichment", "ev-r1", "t" * 32, T0)


# ---- the contract, pure -----------------------------------------------------------------


def test_a_label_is_published_with_its_blanks_filled_from_the_run() -> None:
    published = accept(feedback("r1"), RUN, VendorProfile)
    assert (published["daemon"], published["input_event_id"], published["trace_id"]) == (
        "vendor-enrichment", "ev-r1", "t" * 32,
    )  # fmt: skip


def test_a_correction_is_checked_field_by_field_and_errors_name_the_field() -> None:
    good = accept(feedback("r1", decision="correct", correction={"account_category": "6100"}),
                  RUN, VendorProfile)  # fmt: skip
    assert json.loads(good["corrected_output_json"]) == {"account_category": "6100"}
    problems = correction_problems(
        VendorProfile, {"merchant_category_code": "12AB", "colour": "red"}
    )
    assert any(p.startswith("merchant_category_code: ") for p in problems), problems
    assert "colour: not a field of VendorProfile" in problems
    with pytest.raises(InvalidCorrection, match="name_confidence"):
        accept(feedback("r1", decision="correct", correction={"name_confidence": "high"}),
               RUN, VendorProfile)  # fmt: skip


def test_feedback_about_an_unknown_or_foreign_run_or_deciding_a_review_is_refused() -> None:
    with pytest.raises(UnknownRun, match="run_id"):
        accept(feedback("nope"), None, VendorProfile)
    with pytest.raises(OtherTenantsRun, match="tenant_id") as refused:
        accept(feedback("r1", tenant="globex"), RUN, VendorProfile)
    assert "acme" not in str(refused.value)  # the other tenant is not named
    with pytest.raises(FeedbackRejected, match="review decision"):
        accept(feedback("r1", decision="approve"), RUN, VendorProfile)
    with pytest.raises(FeedbackRejected, match="label"):
        accept(feedback("r1", label=None), RUN, VendorProfile)
    with pytest.raises(FeedbackRejected, match="input_event_id"):
        accept({**feedback("r1"), "input_event_id": "ev-other"}, RUN, VendorProfile)


# ---- on the broker ----------------------------------------------------------------------


def _intake(settings: Settings, contracts: Contracts, mode: Mode = "alo") -> RunnerThread:
    index = RunIndex(settings, contracts)
    index.catch_up()
    intake = build_intake(index, {"vendor-enrichment": VendorProfile}.get)
    return RunnerThread(
        Runner(intake, settings, contracts, commit_interval=0.1, mode=mode, instance="t0")
    )


def _letters(settings: Settings, contracts: Contracts, n: int) -> dict[str, dict[str, Any]]:
    letters = read_topic(settings, contracts, "feedback-intake.dlq", n)
    return {r["value"]["event_id"]: r for r in letters}


@pytest.mark.kafka
@pytest.mark.parametrize("mode", ["alo", "eos"])
def test_the_intake_publishes_good_feedback_and_dead_letters_bad_with_reasons(
    isolated: Settings, topics: Contracts, mode: Mode
) -> None:
    contracts = topics
    runs = [run_record("r-acme"), run_record("r-globex", tenant="globex")]
    produce_events(isolated, contracts, "daemons.runs", [r.to_avro() for r in runs[:1]])
    with _intake(isolated, contracts, mode):
        # a run recorded after the intake started: found by reading on
        produce_events(isolated, contracts, "daemons.runs", [r.to_avro() for r in runs[1:]])
        produce_events(isolated, contracts, "feedback.inbox", [
            feedback("r-acme", event_id="good-label"),
            feedback("r-acme", decision="correct", correction={"account_category": "6100"},
                     label=None, event_id="good-correction"),
            feedback("r-globex", tenant="globex", label="thumbs_down", event_id="good-late-run"),
            feedback("r-missing", event_id="bad-unknown"),
            feedback("r-globex", event_id="bad-tenant"),
            feedback("r-acme", decision="correct", label=None, event_id="bad-correction",
                     correction={"merchant_category_code": "12AB", "colour": "red"}),
        ])  # fmt: skip
        published = read_topic(isolated, contracts, "daemons.feedback", 3)
        letters = _letters(isolated, contracts, 3)
    assert {r["value"]["event_id"] for r in published} == {
        "good-label", "good-correction", "good-late-run",
    }  # fmt: skip
    for record in published:
        assert record["value"]["daemon"] == "vendor-enrichment"
        assert (
            record["key"] == f"{record['value']['tenant_id']}:{record['value']['run_id']}".encode()
        )
    errors = {
        k: (r["headers"]["dlq.error.type"].decode(), r["headers"]["dlq.error.message"].decode())
        for k, r in letters.items()
    }
    assert errors["bad-unknown"][0] == "UnknownRun" and "r-missing" in errors["bad-unknown"][1]
    assert errors["bad-tenant"][0] == "OtherTenantsRun"
    assert errors["bad-correction"][0] == "InvalidCorrection"
    assert "merchant_category_code:" in errors["bad-correction"][1]
    assert "colour: not a field" in errors["bad-correction"][1]
    assert set(errors) == {"bad-unknown", "bad-tenant", "bad-correction"}


@pytest.mark.kafka
def test_a_plain_confluent_kafka_and_fastavro_producer_is_enough(
    isolated: Settings, topics: Contracts
) -> None:
    contracts = topics
    produce_events(isolated, contracts, "daemons.runs", [run_record("r-plain").to_avro()])
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": isolated.kafka.bootstrap_servers,
           "DAEMONS_TOPIC_PREFIX": isolated.topic_prefix}  # fmt: skip
    sent = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "feedback_producer.py"), "--tenant", "acme",
         "--run", "r-plain", "--principal", "u-42", "--label", "thumbs_down", "--score",
         "helpfulness=0.25", "--correct", '{"account_category": "6100"}', "--system", "ledger-ui",
         "--event-id", "plain-1"],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    with _intake(isolated, contracts):
        (record,) = read_topic(isolated, contracts, "daemons.feedback", 1)
    value = record["value"]
    assert (value["event_id"], value["decision"], value["label"], value["source"]) == (
        "plain-1", "correct", "thumbs_down", "downstream_system",
    )  # fmt: skip
    assert value["scores"] == {"helpfulness": 0.25}
    assert json.loads(value["corrected_output_json"]) == {"account_category": "6100"}


@pytest.mark.kafka
def test_daemons_feedback_intake_runs_as_a_process_and_stops_cleanly(
    isolated: Settings, topics: Contracts
) -> None:
    import signal

    contracts = topics
    produce_events(isolated, contracts, "daemons.runs", [run_record("r-cli").to_avro()])
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": isolated.kafka.bootstrap_servers,
           "DAEMONS_TOPIC_PREFIX": isolated.topic_prefix, "PYTHONPATH": str(ROOT)}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "processors", "feedback", "intake"], env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        produce_events(isolated, contracts, "feedback.inbox", [feedback("r-cli", event_id="cli-1")])
        (record,) = read_topic(isolated, contracts, "daemons.feedback", 1)
        assert record["value"]["event_id"] == "cli-1"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output
    assert "stopped feedback-intake cleanly" in output
