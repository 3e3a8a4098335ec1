"""``drain_topic`` reads a topic to its end, however long the first fetch takes."""

from __future__ import annotations

import json

import pytest

from processors.daemons import registry
from processors.kafka.clients import Contracts
from processors.serde.json_codec import from_json
from processors.settings import Settings
from processors.testing.runtime import drain_topic, produce_events

pytestmark = pytest.mark.kafka


def test_a_short_idle_still_reads_the_one_record_of_a_six_partition_topic(
    isolated: Settings, topics: Contracts
) -> None:
    # one record, five empty partitions: the first fetch waits fetch.wait.max.ms (500 ms) on
    # the empty ones, so the record came ~0.6 s after the assignment and a 0.5 s idle counted
    # from the assignment returned nothing, every time (benchmarks/recurrence.py stalled so)
    use_case = registry.use_case("vendor-enrichment")
    assert use_case.samples is not None
    event = json.loads(use_case.samples.read_text().splitlines()[0])
    schema = topics.schemas.get(topics.catalog.get(use_case.input_topic).value_schema).parsed
    assert topics.catalog.get(use_case.input_topic).partitions > 1
    produce_events(isolated, topics, use_case.input_topic, [from_json(schema, event)])
    for _ in range(3):
        drained = drain_topic(isolated, topics, use_case.input_topic, idle=0.0)
        assert [d["value"]["event_id"] for d in drained] == [event["event_id"]]


def test_an_empty_topic_drains_to_nothing_without_waiting_out_the_timeout(
    isolated: Settings, topics: Contracts
) -> None:
    assert drain_topic(isolated, topics, "daemons.runs", idle=0.0, timeout=30) == []
