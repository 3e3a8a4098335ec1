"""The chart's generated file is made from the one source of truth and cannot drift from it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from processors.cli import main
from processors.cli.deploy import CHART_FILE, render
from processors.daemons import registry
from processors.deploy.values import Sizing, Throughput, chart_values, lag_threshold
from processors.errors import ConfigError
from processors.kafka.clients import Contracts
from processors.runtime.timing import Timings
from processors.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BUILT_IN = ("client-onboarding", "question-answering", "vendor-enrichment")


def test_the_checked_in_generated_file_equals_a_fresh_generation() -> None:
    checked_in = (ROOT / CHART_FILE).read_text(encoding="utf-8")
    fresh = render(Settings(), None, ROOT / "deploy" / "sizing.toml", 30.0)
    assert checked_in == fresh, "run `daemons deploy values` and commit the result"


def test_check_mode_says_whether_the_file_is_current(tmp_path: Path) -> None:
    out = tmp_path / "generated.json"
    sizing = str(ROOT / "deploy" / "sizing.toml")
    assert main(["deploy", "values", "--out", str(out), "--sizing", sizing, "--check"]) == 1
    assert main(["deploy", "values", "--out", str(out), "--sizing", sizing]) == 0
    assert main(["deploy", "values", "--out", str(out), "--sizing", sizing, "--check"]) == 0


def test_the_built_in_daemons_are_deployed_with_their_registry_facts() -> None:
    values = json.loads((ROOT / CHART_FILE).read_text(encoding="utf-8"))
    assert tuple(values["daemons"]) == BUILT_IN
    for name, daemon in values["daemons"].items():
        use_case = registry.use_case(name)
        assert daemon["groupId"] == name
        assert daemon["inputTopic"] == use_case.input_topic
        assert use_case.output_topic in daemon["writes"]
        assert f"{name}.dlq" in daemon["writes"]
        timings = Timings(run_timeout_s=use_case.limits.timeout_s)
        assert daemon["timings"]["maxPollIntervalMs"] == timings.max_poll_interval_ms
        assert daemon["timings"]["terminationGracePeriodSeconds"] == timings.termination_grace_s


def test_every_catalog_topic_becomes_a_kafka_topic_with_its_partitions() -> None:
    values = json.loads((ROOT / CHART_FILE).read_text(encoding="utf-8"))
    catalog = Contracts.load(Settings()).catalog
    assert set(values["topics"]) == {t.name for t in catalog}
    for topic in catalog:
        assert values["topics"][topic.name]["partitions"] == topic.partitions
        assert values["topics"][topic.name]["config"]["retention.ms"] == str(topic.retention_ms)


@pytest.mark.parametrize(
    ("drain", "per_event", "threshold"),
    [(300, 3.7, 81), (300, 11.2, 26), (300, 3.1, 96), (10, 30.0, 1), (60, 2.0, 30)],
)
def test_lag_threshold_is_the_events_one_replica_drains_in_the_target_time(
    drain: float, per_event: float, threshold: int
) -> None:
    assert lag_threshold(drain, per_event) == threshold


def test_a_daemon_without_a_measured_throughput_is_refused() -> None:
    sizing = Sizing(300.0, {})
    catalog = Contracts.load(Settings()).catalog
    with pytest.raises(ConfigError, match="no measured seconds per event"):
        chart_values([registry.use_case("vendor-enrichment")], catalog, sizing)


def test_a_daemon_writing_a_topic_the_catalog_does_not_give_it_is_refused() -> None:
    use_case = dataclasses.replace(
        registry.use_case("vendor-enrichment"), output_topic="clients.onboarded"
    )
    sizing = Sizing(300.0, {"vendor-enrichment": Throughput(3.7, "test")})
    catalog = Contracts.load(Settings()).catalog
    with pytest.raises(ConfigError, match="catalog and the registry disagree"):
        chart_values([use_case], catalog, sizing)


def test_a_daemon_reading_a_topic_not_listing_it_as_consumer_is_refused() -> None:
    use_case = dataclasses.replace(
        registry.use_case("vendor-enrichment"), input_topic="clients.created"
    )
    sizing = Sizing(300.0, {"vendor-enrichment": Throughput(3.7, "test")})
    catalog = Contracts.load(Settings()).catalog
    with pytest.raises(ConfigError, match="consumers"):
        chart_values([use_case], catalog, sizing)


def test_sizing_figures_name_their_source() -> None:
    sizing = Sizing.load(ROOT / "deploy" / "sizing.toml")
    for name in BUILT_IN:
        assert "docs/decision-cost.md" in sizing.of(name).source
