"""RuntimeMetrics (OpenTelemetry + Prometheus text) and the health server over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from processors.runtime.health import HealthServer
from processors.runtime.metrics import PROCESSING_BUCKETS, RuntimeMetrics

# One exposition-format sample line: name, optional {labels}, value.
_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r'(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*",?)*)\})?'
    r" (?P<value>[-+]?(?:[0-9.e+-]+|Inf|NaN))$"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse(text: str) -> tuple[dict[str, str], list[tuple[str, dict[str, str], float]]]:
    """(TYPE by metric name, samples); fails on any line that is not valid exposition format."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples = []
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            types[name] = kind
        elif line.startswith("# HELP "):
            assert len(line.split(" ", 3)) == 4, line
        else:
            match = _SAMPLE.match(line)
            assert match, f"not exposition format: {line!r}"
            labels = {k: _unescape(v) for k, v in _LABEL.findall(match["labels"] or "")}
            samples.append((match["name"], labels, float(match["value"])))
    return types, samples


def value(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    found = [v for n, lab, v in samples if n == name and labels.items() <= lab.items()]
    assert len(found) == 1, f"{name} {labels}: {len(found)} samples"
    return found[0]


def otel_points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: list(metric.data.data_points)
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def metrics(reader: InMemoryMetricReader) -> RuntimeMetrics:
    return RuntimeMetrics("vendor-enrichment", "daemons.vendor-enrichment", MeterProvider([reader]))


def test_every_measurement_reaches_the_given_meter_provider_with_its_attributes(
    metrics: RuntimeMetrics, reader: InMemoryMetricReader
) -> None:
    metrics.consumed("t.vendors.discovered", 3)
    metrics.consumed("t.vendors.discovered", 3)
    metrics.produced("t.vendors.enriched", count=2)
    metrics.dead_lettered("t.vendors.discovered", "SchemaValidationError")
    metrics.retried("t.vendors.discovered", "RateLimited")
    metrics.in_flight(4)
    metrics.lag("t.vendors.discovered", 3, 17)
    metrics.processing_time("t.vendors.discovered", 0.3)
    metrics.set_ready(True)

    points = otel_points(reader)
    base = {"daemon": "vendor-enrichment", "consumer_group": "daemons.vendor-enrichment"}
    [consumed] = points["daemons.events.consumed"]
    assert consumed.value == 2
    assert dict(consumed.attributes) == {**base, "topic": "t.vendors.discovered", "partition": 3}
    [produced] = points["daemons.events.produced"]
    assert (produced.value, produced.attributes["topic"]) == (2, "t.vendors.enriched")
    [dead] = points["daemons.events.dead_lettered"]
    assert dead.value == 1 and dead.attributes["error_type"] == "SchemaValidationError"
    [retry] = points["daemons.retries"]
    assert retry.value == 1 and retry.attributes["error_type"] == "RateLimited"
    assert [p.value for p in points["daemons.in_flight"]] == [4]
    [lag] = points["daemons.partition.lag"]
    assert (lag.value, lag.attributes["partition"]) == (17, 3)
    [hist] = points["daemons.processing"]
    assert (hist.count, hist.sum) == (1, 0.3)
    assert tuple(hist.explicit_bounds) == PROCESSING_BUCKETS
    assert [p.value for p in points["daemons.ready"]] == [1]


def test_prometheus_text_has_help_type_total_counters_and_labels(metrics: RuntimeMetrics) -> None:
    metrics.consumed("in", 0)
    metrics.consumed("in", 1)
    metrics.consumed("in", 1)
    metrics.produced("out", count=5)
    metrics.retried("in", "RateLimited")
    metrics.in_flight(2)
    types, samples = parse(metrics.render_prometheus())
    assert types == {
        "daemons_events_consumed_total": "counter",
        "daemons_events_skipped_total": "counter",
        "daemons_events_produced_total": "counter",
        "daemons_events_dead_lettered_total": "counter",
        "daemons_retries_total": "counter",
        "daemons_in_flight": "gauge",
        "daemons_partition_lag": "gauge",
        "daemons_ready": "gauge",
        "daemons_processing_seconds": "histogram",
        "daemons_agent_runs_total": "counter",
        "daemons_agent_tokens_total": "counter",
        "daemons_agent_cost_usd_total": "counter",
        "daemons_agent_run_seconds": "histogram",
        "daemons_tool_errors_total": "counter",
        "daemons_guardrail_verdicts_total": "counter",
    }
    assert value(samples, "daemons_events_consumed_total", partition="1") == 2
    assert value(samples, "daemons_events_consumed_total", partition="0") == 1
    assert value(samples, "daemons_events_produced_total", topic="out") == 5
    assert value(samples, "daemons_retries_total", error_type="RateLimited") == 1
    assert value(samples, "daemons_in_flight", daemon="vendor-enrichment") == 2
    assert value(samples, "daemons_ready") == 0
    assert not [s for s in samples if s[0] == "daemons_events_dead_lettered_total"]
    labels = next(lab for n, lab, _ in samples if n == "daemons_events_consumed_total")
    assert labels["consumer_group"] == "daemons.vendor-enrichment"


def test_histogram_buckets_are_cumulative_with_sum_and_count(metrics: RuntimeMetrics) -> None:
    for seconds in (0.004, 0.2, 0.2, 7.0, 1000.0):
        metrics.processing_time("in", seconds)
    _, samples = parse(metrics.render_prometheus())
    name = "daemons_processing_seconds"
    assert value(samples, f"{name}_bucket", le="0.005") == 1
    assert value(samples, f"{name}_bucket", le="0.25") == 3
    assert value(samples, f"{name}_bucket", le="10.0") == 4
    assert value(samples, f"{name}_bucket", le="600.0") == 4
    assert value(samples, f"{name}_bucket", le="+Inf") == 5
    assert value(samples, f"{name}_count") == 5
    assert value(samples, f"{name}_sum") == pytest.approx(1007.404)
    buckets = [v for n, _, v in samples if n == f"{name}_bucket"]
    assert buckets == sorted(buckets) and len(buckets) == len(PROCESSING_BUCKETS) + 1


def test_label_values_are_escaped(metrics: RuntimeMetrics) -> None:
    nasty = 'Weird"Error\\with\nnewline'
    metrics.dead_lettered("in", nasty)
    text = metrics.render_prometheus()
    assert 'error_type="Weird\\"Error\\\\with\\nnewline"' in text
    _, samples = parse(text)
    assert value(samples, "daemons_events_dead_lettered_total", error_type=nasty) == 1


def test_lag_is_per_partition_last_value_and_forgotten_partitions_disappear(
    metrics: RuntimeMetrics,
) -> None:
    metrics.lag("in", 0, 100)
    metrics.lag("in", 0, 40)
    metrics.lag("in", 1, 7)
    _, samples = parse(metrics.render_prometheus())
    assert value(samples, "daemons_partition_lag", partition="0") == 40
    assert value(samples, "daemons_partition_lag", partition="1") == 7
    metrics.forget_partition("in", 0)
    _, samples = parse(metrics.render_prometheus())
    assert [lab["partition"] for n, lab, _ in samples if n == "daemons_partition_lag"] == ["1"]


def test_without_a_provider_metrics_still_render() -> None:
    metrics = RuntimeMetrics("d", "g")
    metrics.consumed("in", 0)
    _, samples = parse(metrics.render_prometheus())
    assert value(samples, "daemons_events_consumed_total", daemon="d", consumer_group="g") == 1


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(metrics: RuntimeMetrics, clock: Clock) -> Iterator[HealthServer]:
    with HealthServer(metrics, port=0, stale_after=30, clock=clock) as health:
        yield health


def test_healthz_follows_the_heartbeat(server: HealthServer, clock: Clock) -> None:
    assert server.port != 0 and server.url == f"http://127.0.0.1:{server.port}"
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    clock.now += 31
    stale = httpx.get(f"{server.url}/healthz")
    assert stale.status_code == 503 and "no heartbeat for 31s" in stale.text
    server.heartbeat()
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_healthz_fails_while_the_loop_turns_but_makes_no_progress(server: HealthServer) -> None:
    reason: list[str | None] = [None]
    server.watch(lambda: reason[0])
    server.heartbeat()
    assert httpx.get(f"{server.url}/healthz").status_code == 200
    reason[0] = "no event consumed or finished for 601s with 2 partition(s) assigned"
    stuck = httpx.get(f"{server.url}/healthz")
    assert stuck.status_code == 503 and stuck.text == f"stalled: {reason[0]}\n"
    reason[0] = None
    assert httpx.get(f"{server.url}/healthz").status_code == 200


def test_readyz_follows_the_ready_flag(server: HealthServer, metrics: RuntimeMetrics) -> None:
    assert httpx.get(f"{server.url}/readyz").status_code == 503
    metrics.set_ready(True)
    assert httpx.get(f"{server.url}/readyz").status_code == 200
    metrics.set_ready(False)
    assert httpx.get(f"{server.url}/readyz").status_code == 503


def test_metrics_endpoint_serves_prometheus_text(
    server: HealthServer, metrics: RuntimeMetrics
) -> None:
    metrics.consumed("in", 2)
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    _, samples = parse(response.text)
    assert value(samples, "daemons_events_consumed_total", partition="2") == 1
    assert httpx.get(f"{server.url}/nope").status_code == 404


def test_stop_releases_the_port(metrics: RuntimeMetrics) -> None:
    health = HealthServer(metrics).start()
    url = health.url
    assert httpx.get(f"{url}/healthz").status_code == 200
    health.stop()
    health.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/healthz", timeout=2)
