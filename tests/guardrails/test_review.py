"""``daemons review``: held results stay pending until decided; approve publishes exactly once
(twice approved, or after a crash half-way), reject records feedback; through the real broker
and the real command line."""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import Producer

from processors.cli import main
from processors.daemons.review import decide
from processors.errors import DaemonsError
from processors.guardrails.review import FEEDBACK_TOPIC, ReviewError, pending, review_queue
from processors.guardrails.routing import REVIEW_TOPIC, Decision, held_result, output_id
from processors.kafka.clients import Contracts, producer_config
from processors.settings import Settings
from processors.testing.runtime import drain_topic, produce_events

pytestmark = pytest.mark.kafka
TARGET = "questions.answered"


def _held(event_id: str, run_id: str | None = None) -> dict[str, Any]:
    event = {"event_id": event_id, "tenant_id": "t-ridgeline", "principal_id": "u-ridgeline-owner"}
    value = {
        **event,
        "occurred_at": dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC),
        "output_id": "",
        "run_id": run_id or uuid.uuid4().hex,
        "trace_id": "cd" * 16,
        "question_id": f"q-{event_id}",
        "can_answer": True,
        "answer": "You spent $5,605.50 on green coffee in 2026-Q2.",
        "reason": None,
        "figures": [
            {
                "label": "COGS green coffee 2026-Q2",
                "amount_minor": 560550,
                "currency": "USD",
                "record_ids": ["tx-r-001", "tx-r-007"],
            }
        ],
        "periods": ["2026-Q2"],
        "filters": {"category": "5000"},
    }
    decision = Decision("needs_review", ["judged needs_review"], {"grounded": 0.6}, "local:j")
    return held_result(
        event=event,
        daemon="question-answering",
        target_topic=TARGET,
        value=value,
        decision=decision,
        run_id=value["run_id"],
        trace_id=value["trace_id"],
    )


@pytest.fixture
def held(isolated: Settings, topics: Contracts) -> list[dict[str, Any]]:
    records = [_held("e-1"), _held("e-2"), _held("e-3")]
    produce_events(isolated, topics, REVIEW_TOPIC, records)
    return records


def test_held_results_are_pending_until_decided(
    isolated: Settings, topics: Contracts, held: list[dict[str, Any]]
) -> None:
    assert {h.run_id for h in pending(isolated, topics)} == {h["run_id"] for h in held}
    decide(isolated, topics, held[0]["run_id"], "approve", reviewer="u-rev")
    decide(isolated, topics, held[1]["run_id"], "reject", reviewer="u-rev", comment="wrong")
    assert [h.run_id for h in pending(isolated, topics)] == [held[2]["run_id"]]
    statuses = {
        h.run_id: h.decision["decision"] if h.decision else None
        for h in review_queue(isolated, topics)
    }
    assert statuses == {
        held[0]["run_id"]: "approve",
        held[1]["run_id"]: "reject",
        held[2]["run_id"]: None,
    }


def test_approve_publishes_once_even_when_approved_twice(
    isolated: Settings, topics: Contracts, held: list[dict[str, Any]]
) -> None:
    run_id = held[0]["run_id"]
    outcomes = [decide(isolated, topics, run_id, "approve", reviewer="u-rev") for _ in range(2)]
    assert [o.published for o in outcomes] == [True, False]
    (published,) = drain_topic(isolated, topics, TARGET, idle=2.0)
    value = published["value"]
    assert value["output_id"] == output_id("e-1", TARGET) == held[0]["output_id"]
    assert value["run_id"] == run_id and value["event_id"] == "e-1"
    assert value["figures"][0]["amount_minor"] == 560550
    assert value["occurred_at"] == dt.datetime(2026, 10, 5, 9, tzinfo=dt.UTC)
    assert published["headers"]["output_id"] == value["output_id"].encode()
    (feedback,) = drain_topic(isolated, topics, FEEDBACK_TOPIC, idle=1.0)
    assert feedback["value"]["decision"] == "approve" and feedback["value"]["run_id"] == run_id
    assert feedback["value"]["principal_id"] == "u-rev"
    with pytest.raises(ReviewError, match="already approved"):
        decide(isolated, topics, run_id, "reject", reviewer="u-rev", comment="too late")


def test_a_redelivered_event_held_twice_is_settled_by_one_decision(
    isolated: Settings, topics: Contracts, held: list[dict[str, Any]]
) -> None:
    again = _held("e-1")  # the same event processed again: another run, the same output id
    produce_events(isolated, topics, REVIEW_TOPIC, [again])
    assert len(pending(isolated, topics)) == 3  # one per output id
    decide(isolated, topics, again["run_id"], "approve", reviewer="u-rev")
    assert (
        decide(isolated, topics, held[0]["run_id"], "approve", reviewer="u-rev").published is False
    )
    assert len(drain_topic(isolated, topics, TARGET, idle=2.0)) == 1


def test_a_crash_between_publish_and_record_publishes_nothing_then_once(
    isolated: Settings, topics: Contracts, held: list[dict[str, Any]]
) -> None:
    # A reviewer's process began the transaction and wrote the output, then died.
    zombie = Producer(
        producer_config(isolated, **{"transactional.id": f"daemons-review-{held[0]['output_id']}"})
    )
    zombie.init_transactions(30)
    zombie.begin_transaction()
    spec = topics.catalog.get(TARGET)
    value = json.loads(held[0]["output_json"])
    physical = topics.catalog.physical(TARGET)
    data = topics.codec.encode(spec.value_schema, _datum(topics, value), topic=physical)
    zombie.produce(physical, key=b"k", value=data)
    zombie.flush(10)
    assert held[0]["run_id"] in {h.run_id for h in pending(isolated, topics)}  # still held

    assert decide(isolated, topics, held[0]["run_id"], "approve", reviewer="u-rev").published
    published = drain_topic(isolated, topics, TARGET, idle=2.0)
    assert len(published) == 1 and published[0]["value"]["event_id"] == "e-1"


def _datum(topics: Contracts, value: dict[str, Any]) -> dict[str, Any]:
    from processors.serde.json_codec import from_json

    spec = topics.catalog.get(TARGET)
    return dict(from_json(topics.schemas.get(spec.value_schema).parsed, value))


@pytest.fixture
def cli_env(isolated: Settings) -> Iterator[None]:
    keys = {
        "KAFKA_BOOTSTRAP_SERVERS": isolated.kafka.bootstrap_servers,
        "DAEMONS_TOPIC_PREFIX": isolated.topic_prefix,
    }
    saved = {k: os.environ.get(k) for k in keys}
    os.environ.update(keys)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_the_command_line_lists_shows_approves_and_rejects(
    isolated: Settings,
    topics: Contracts,
    held: list[dict[str, Any]],
    cli_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["review", "list", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {r["run_id"] for r in rows} == {h["run_id"] for h in held}
    assert all(r["status"] == "pending" for r in rows)
    assert rows[0]["reasons"] == ["judged needs_review"]

    assert main(["review", "show", held[1]["run_id"]]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["output"]["question_id"] == "q-e-2" and shown["scores"] == {"grounded": 0.6}

    assert main(["review", "approve", held[0]["run_id"], "--reviewer", "u-rev"]) == 0
    assert "published output" in capsys.readouterr().out
    assert main(["review", "approve", held[0]["run_id"], "--reviewer", "u-rev"]) == 0
    assert "nothing published again" in capsys.readouterr().out
    assert (
        main(
            [
                "review",
                "reject",
                held[1]["run_id"],
                "--reason",
                "figure is wrong",
                "--reviewer",
                "u-rev",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["review", "list", "--all", "--json"]) == 0
    statuses = {
        json.loads(line)["run_id"]: json.loads(line)["status"]
        for line in capsys.readouterr().out.splitlines()
    }
    assert statuses == {
        held[0]["run_id"]: "approve",
        held[1]["run_id"]: "reject",
        held[2]["run_id"]: "pending",
    }
    feedback = {
        f["value"]["run_id"]: f["value"]
        for f in drain_topic(isolated, topics, FEEDBACK_TOPIC, idle=1.0)
    }
    assert feedback[held[1]["run_id"]]["comment"] == "figure is wrong"
    assert len(drain_topic(isolated, topics, TARGET, idle=1.0)) == 1
    assert main(["review", "show", "no-such-run"]) == 2


def test_deciding_an_unknown_run_is_an_error(
    isolated: Settings, topics: Contracts, held: list[dict[str, Any]]
) -> None:
    with pytest.raises(DaemonsError, match="no held result"):
        decide(isolated, topics, "nope", "approve", reviewer="u-rev")
