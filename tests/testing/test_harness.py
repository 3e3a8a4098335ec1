"""The test harness a daemon's own package uses: real broker, reference API, real runtime."""

from __future__ import annotations

import json

import pytest

from processors.daemons import registry
from processors.llm.fakes import FunctionModel, reply
from processors.llm.model import AssistantMessage, ModelRequest
from processors.settings import Settings
from processors.testing.harness import reference_api, run_events

pytestmark = pytest.mark.kafka


def test_run_events_returns_each_events_output_and_outcome(kafka: Settings) -> None:
    use_case = registry.use_case("vendor-enrichment")
    assert use_case.samples is not None
    events = [json.loads(line) for line in use_case.samples.read_text().splitlines()[:2]]

    def nothing_matched(request: ModelRequest) -> AssistantMessage:
        return reply({"business_id": None, "existing_vendor_id": None, "name": None,
                      "account_category": None})  # fmt: skip

    with reference_api() as api:
        published = run_events(
            use_case, events, FunctionModel(nothing_matched), settings=kafka, api=api
        )
    assert set(published.verdicts()) == {e["event_id"] for e in events}
    assert {o["event_id"] for o in published.outputs} <= {e["event_id"] for e in events}
    assert len(published.runs) == len(events)
    assert published.dead_letters == []
