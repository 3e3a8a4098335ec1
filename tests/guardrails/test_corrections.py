"""A reviewer's correction: checked field by field against the output topic's schema and the
daemon's output model, the envelope and key fields locked; and ``decide(..., "correct")``
publishing the corrected datum once with its feedback, through the real broker."""

from __future__ import annotations

import json
from typing import Any

import pytest

from processors.daemons.question_answering.models import QuestionAnswer
from processors.daemons.review import decide
from processors.daemons.vendor_enrichment.models import VendorProfile
from processors.guardrails.corrections import Corrected, FieldError, correct, editable_fields
from processors.guardrails.review import FEEDBACK_TOPIC, ReviewError, read_all
from processors.kafka.clients import Contracts
from processors.serde.json_codec import to_json
from processors.settings import Settings
from processors.testing import held as seed


def _schema(topic: str) -> Any:
    contracts = Contracts.load(Settings())
    return contracts.schemas.get(contracts.catalog.get(topic).value_schema).parsed


VENDOR = to_json(json.loads(seed.vendor("t-ridgeline", 1).held["output_json"]))
QUESTION = to_json(json.loads(seed.question("t-ridgeline", 2).held["output_json"]))
LOCKED_VENDOR = {"event_id", "tenant_id", "principal_id", "occurred_at", "output_id", "run_id",
                 "trace_id", "raw_descriptor"}  # fmt: skip


def _errors(result: Corrected | list[FieldError]) -> dict[str, str]:
    assert isinstance(result, list), f"expected errors, got {result}"
    return {e.field: e.message for e in result}


def test_the_editable_fields_are_the_scalar_leaves_but_the_envelope_and_the_key() -> None:
    names = [f.name for f in editable_fields(_schema("vendors.enriched"), VENDOR, LOCKED_VENDOR)]
    assert "name.value" in names and "account_category.status" in names
    assert "merchant_category_code.confidence" in names
    assert not {"tenant_id", "raw_descriptor", "output_id", "run_id"} & set(names)
    assert not any(n.endswith("sources") for n in names)  # lists of ids are evidence, not fields
    names = [f.name for f in editable_fields(_schema("questions.answered"), QUESTION)]
    assert {"answer", "can_answer", "figures[0].amount_minor", "figures[0].label"} <= set(names)


def test_a_good_correction_changes_only_what_was_typed() -> None:
    result = correct(_schema("vendors.enriched"), VENDOR,
                     {"account_category.value": "6400", "name.value": "Blue Bottle Coffee"},
                     VendorProfile, LOCKED_VENDOR)  # fmt: skip
    assert isinstance(result, Corrected)
    assert result.changed == ("account_category.value",)
    assert result.datum["account_category"]["value"] == "6400"
    assert VENDOR["account_category"]["value"] == "6600"  # the held output is not changed


def test_each_bad_field_is_named_with_why() -> None:
    errors = _errors(correct(
        _schema("vendors.enriched"), VENDOR,
        {"name.status": "maybe", "name.confidence": "high", "merchant_category_code.value": "58X4",
         "tenant_id": "t-other", "raw_descriptor": "X", "name.value": None},
        VendorProfile, LOCKED_VENDOR,
    ))  # fmt: skip
    assert errors["name.status"] == "must be one of known, unknown"
    assert errors["name.confidence"] == "must be a number"
    assert "should match pattern '^[0-9]{4}$'" in errors["merchant_category_code.value"]
    assert errors["tenant_id"] == errors["raw_descriptor"] == "this field cannot be corrected"
    assert "name.value" not in errors  # nullable in the schema and in the model


def test_the_model_checks_what_the_schema_cannot() -> None:
    schema = _schema("vendors.enriched")
    change = {"merchant_category_code.value": "58X4"}
    assert isinstance(correct(schema, VENDOR, change, None, LOCKED_VENDOR), Corrected)
    assert "merchant_category_code.value" in _errors(
        correct(schema, VENDOR, change, VendorProfile, LOCKED_VENDOR)
    )
    errors = _errors(correct(_schema("questions.answered"), QUESTION,
                             {"figures[0].amount_minor": 12.5, "can_answer": "yes",
                              "answer": None}, QuestionAnswer))  # fmt: skip
    assert errors == {
        "figures[0].amount_minor": "must be a whole number",
        "can_answer": "must be yes or no",
        "answer": "a value is required",
    }


@pytest.mark.kafka
def test_decide_correct_publishes_the_corrected_output_once_with_its_feedback(
    isolated: Settings, topics: Contracts
) -> None:
    story = seed.question("t-ridgeline", 7)
    seed.publish(isolated, topics, [story])
    held_output = json.loads(story.held["output_json"])
    corrected = {**held_output, "answer": "You spent USD 5,100.00 on green coffee in 2026-Q2."}
    corrected["figures"] = [{**QUESTION["figures"][0], "amount_minor": 510000}]
    for bad in ({**corrected, "tenant_id": "t-quillstack"}, {**corrected, "can_answer": "y"}):
        with pytest.raises(ReviewError):
            decide(isolated, topics, story.run_id, "correct", reviewer="u-rev", corrected=bad)
    assert read_all(isolated, topics, FEEDBACK_TOPIC) == []
    with pytest.raises(ReviewError, match="needs the corrected output"):
        decide(isolated, topics, story.run_id, "correct", reviewer="u-rev")
    outcomes = [
        decide(
            isolated,
            topics,
            story.run_id,
            "correct",
            reviewer="u-rev",
            comment="the July record is Q3",
            corrected=corrected,
        )
        for _ in range(2)
    ]
    assert [o.published for o in outcomes] == [True, False]
    (published,) = read_all(isolated, topics, "questions.answered")
    assert published["figures"][0]["amount_minor"] == 510000
    assert published["output_id"] == story.held["output_id"]
    assert published["tenant_id"] == "t-ridgeline"
    (feedback,) = read_all(isolated, topics, FEEDBACK_TOPIC)
    assert feedback["decision"] == "correct" and feedback["comment"] == "the July record is Q3"
    assert json.loads(feedback["corrected_output_json"])["figures"][0]["amount_minor"] == 510000
    with pytest.raises(ReviewError, match="already corrected; cannot approve"):
        decide(isolated, topics, story.run_id, "approve", reviewer="u-rev")
