"""What a daemon counts: consumed, produced, dead-lettered, retries, in flight, lag, latency.

:class:`RuntimeMetrics` records every measurement as OpenTelemetry metrics, once per meter:

- on the ``meter_provider`` given (or the global one), so an OTLP/Prometheus exporter set up by
  the operator sees everything with ``daemon``/``consumer_group``/``topic``/``partition``
  attributes;
- on a private SDK ``MeterProvider`` with an in-memory reader, from which
  :meth:`RuntimeMetrics.render_prometheus` writes the Prometheus text exposition format
  (version 0.0.4) that ``/metrics`` serves. No extra dependency: the SDK aggregates, we only
  print.

Decisions are counted too, per daemon and model: agent runs, tokens, cost, run latency, tool
errors (:func:`record_run`, called by the agent loop at the end of every run) and guardrail
verdicts (:func:`record_verdict`). These module functions reach every live
:class:`RuntimeMetrics` of that daemon in the process (so ``/metrics`` shows them), or the
global meter provider when none exists (evals, tests without a runner).

Counters and the histograms are synchronous instruments; gauges (in flight, lag, ready) are
observable gauges that read the last value set, so a partition given up with
:meth:`RuntimeMetrics.forget_partition` disappears from the next scrape.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from opentelemetry import metrics as otel
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import Gauge, Histogram, InMemoryMetricReader, Sum
from opentelemetry.util.types import AttributeValue

METER_NAME = "processors.runtime"
# Agent runs take from milliseconds (cached, rejected early) to minutes (many model turns).
PROCESSING_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip

Kind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class MetricSpec:
    """One instrument: its OpenTelemetry name and unit, and its Prometheus name and type."""

    otel_name: str
    prometheus_name: str
    kind: Kind
    unit: str
    help: str


CONSUMED = MetricSpec(
    "daemons.events.consumed", "daemons_events_consumed_total", "counter", "{event}",
    "Events read from an input topic.",
)  # fmt: skip
SKIPPED = MetricSpec(
    "daemons.events.skipped", "daemons_events_skipped_total", "counter", "{event}",
    "Events read again after a restart or rebalance and not run: a previous owner finished "
    "them (the offset commit's metadata said so).",
)  # fmt: skip
PRODUCED = MetricSpec(
    "daemons.events.produced", "daemons_events_produced_total", "counter", "{event}",
    "Records written to an output topic (results, run records, guardrail outcomes).",
)  # fmt: skip
DEAD_LETTERED = MetricSpec(
    "daemons.events.dead_lettered", "daemons_events_dead_lettered_total", "counter", "{event}",
    "Events given up on and written to the dead-letter topic, by error type.",
)  # fmt: skip
RETRIES = MetricSpec(
    "daemons.retries", "daemons_retries_total", "counter", "{retry}",
    "Processing attempts that failed with a transient error and will be retried.",
)  # fmt: skip
IN_FLIGHT = MetricSpec(
    "daemons.in_flight", "daemons_in_flight", "gauge", "{event}",
    "Events consumed but not yet finished.",
)  # fmt: skip
LAG = MetricSpec(
    "daemons.partition.lag", "daemons_partition_lag", "gauge", "{event}",
    "Records between the consumer position and the partition's high watermark.",
)  # fmt: skip
READY = MetricSpec(
    "daemons.ready", "daemons_ready", "gauge", "1",
    "1 once partitions are assigned and the consumer has caught up, else 0.",
)  # fmt: skip
PROCESSING = MetricSpec(
    "daemons.processing", "daemons_processing_seconds", "histogram", "s",
    "Time from consuming an event to finishing it (handled or dead-lettered).",
)  # fmt: skip
AGENT_RUNS = MetricSpec(
    "daemons.agent.runs", "daemons_agent_runs_total", "counter", "{run}",
    "Agent runs finished, by executor model and outcome (completed/failed).",
)  # fmt: skip
AGENT_TOKENS = MetricSpec(
    "daemons.agent.tokens", "daemons_agent_tokens_total", "counter", "{token}",
    "Model tokens used by agent runs, by model and token type (input/output; cache_read and "
    "cache_write: the parts of input read from or written to a provider's prompt cache).",
)  # fmt: skip
AGENT_COST = MetricSpec(
    "daemons.agent.cost", "daemons_agent_cost_usd_total", "counter", "USD",
    "Model cost of agent runs from the price table, by model.",
)  # fmt: skip
AGENT_DURATION = MetricSpec(
    "daemons.agent.duration", "daemons_agent_run_seconds", "histogram", "s",
    "Wall time of one agent run, by executor model and outcome.",
)  # fmt: skip
TOOL_ERRORS = MetricSpec(
    "daemons.tool.errors", "daemons_tool_errors_total", "counter", "{call}",
    "Tool calls that failed or were refused, by tool and error type.",
)  # fmt: skip
VERDICTS = MetricSpec(
    "daemons.guardrail.verdicts", "daemons_guardrail_verdicts_total", "counter", "{verdict}",
    "Guardrail verdicts, by verdict.",
)  # fmt: skip
SPECS = (
    CONSUMED, SKIPPED, PRODUCED, DEAD_LETTERED, RETRIES, IN_FLIGHT, LAG, READY, PROCESSING,
    AGENT_RUNS, AGENT_TOKENS, AGENT_COST, AGENT_DURATION, TOOL_ERRORS, VERDICTS,
)  # fmt: skip
_LIVE: weakref.WeakSet[RuntimeMetrics] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


class _DecisionInstruments:
    """What the agent and the guardrails count, on one meter."""

    def __init__(self, meter: otel.Meter) -> None:
        self.runs = meter.create_counter(AGENT_RUNS.otel_name, AGENT_RUNS.unit, AGENT_RUNS.help)
        self.tokens = meter.create_counter(
            AGENT_TOKENS.otel_name, AGENT_TOKENS.unit, AGENT_TOKENS.help
        )
        self.cost = meter.create_counter(AGENT_COST.otel_name, AGENT_COST.unit, AGENT_COST.help)
        self.duration = meter.create_histogram(
            AGENT_DURATION.otel_name,
            AGENT_DURATION.unit,
            AGENT_DURATION.help,
            explicit_bucket_boundaries_advisory=PROCESSING_BUCKETS,
        )
        self.tool_errors = meter.create_counter(
            TOOL_ERRORS.otel_name, TOOL_ERRORS.unit, TOOL_ERRORS.help
        )
        self.verdicts = meter.create_counter(VERDICTS.otel_name, VERDICTS.unit, VERDICTS.help)


@dataclass(frozen=True)
class ModelUsage:
    """Tokens and cost of one model call, for :func:`record_run`. ``cached_input_tokens``
    (read from the provider's prompt cache) and ``cache_write_tokens`` (written to it) are
    parts of ``input_tokens``."""

    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0


def record_run(
    daemon: str,
    *,
    model: str,
    outcome: str,
    seconds: float,
    usage: Sequence[ModelUsage] = (),
    tool_errors: Sequence[tuple[str, str]] = (),
) -> None:
    """Count one finished agent run: its outcome and wall time (by executor ``model``), each
    model call's tokens and cost (by that call's model), and each ``(tool, error_type)``."""
    for instruments, base in _decision_targets(daemon):
        run = {**base, "model": model, "outcome": outcome}
        instruments.runs.add(1, run)
        instruments.duration.record(seconds, run)
        for call in usage:
            labels = {**base, "model": call.model}
            instruments.tokens.add(call.input_tokens, {**labels, "token_type": "input"})
            instruments.tokens.add(call.output_tokens, {**labels, "token_type": "output"})
            # parts of the input (already counted there), when a provider reported them
            for token_type, count in (
                ("cache_read", call.cached_input_tokens),
                ("cache_write", call.cache_write_tokens),
            ):
                if count:
                    instruments.tokens.add(count, {**labels, "token_type": token_type})
            instruments.cost.add(call.cost_usd, labels)
        for tool, error_type in tool_errors:
            instruments.tool_errors.add(1, {**base, "tool": tool, "error_type": error_type})


def record_verdict(daemon: str, verdict: str) -> None:
    """Count one guardrail verdict (``pass``, ``fail``, ``review`` …) of ``daemon``."""
    for instruments, base in _decision_targets(daemon):
        instruments.verdicts.add(1, {**base, "verdict": verdict})


_fallback: dict[int, _DecisionInstruments] = {}


def _decision_targets(daemon: str) -> list[tuple[_DecisionInstruments, dict[str, AttributeValue]]]:
    with _LIVE_LOCK:
        live = [m for m in _LIVE if m.daemon == daemon]
    if live:
        return [(i, m._base) for m in live for i in m._decisions]
    provider = otel.get_meter_provider()
    with _LIVE_LOCK:
        if id(provider) not in _fallback:
            _fallback[id(provider)] = _DecisionInstruments(provider.get_meter(METER_NAME))
        instruments = _fallback[id(provider)]
    return [(instruments, {"daemon": daemon})]


class _Instruments:
    """The synchronous instruments and observable gauges of one meter."""

    def __init__(self, meter: otel.Meter, owner: RuntimeMetrics) -> None:
        # the per-event counts are observed, not added per event: each event only bumps a
        # total (an OpenTelemetry measurement hashes its attributes, twice per event per
        # meter, a fifth of a pass-through event's cost, measured by benchmarks/peers.py)
        for spec in (CONSUMED, SKIPPED, PRODUCED):
            meter.create_observable_counter(
                spec.otel_name, [owner._counts_of(spec.otel_name)], spec.unit, spec.help
            )
        self.dead_lettered = meter.create_counter(
            DEAD_LETTERED.otel_name, DEAD_LETTERED.unit, DEAD_LETTERED.help
        )
        self.retries = meter.create_counter(RETRIES.otel_name, RETRIES.unit, RETRIES.help)
        self.processing = meter.create_histogram(
            PROCESSING.otel_name,
            PROCESSING.unit,
            PROCESSING.help,
            explicit_bucket_boundaries_advisory=PROCESSING_BUCKETS,
        )
        for spec, callback in (
            (IN_FLIGHT, owner._observe_in_flight),
            (LAG, owner._observe_lag),
            (READY, owner._observe_ready),
        ):
            meter.create_observable_gauge(spec.otel_name, [callback], spec.unit, spec.help)


class RuntimeMetrics:
    """The runtime's measurements for one daemon (consumer group). Thread-safe."""

    def __init__(
        self,
        daemon: str,
        group_id: str,
        meter_provider: otel.MeterProvider | None = None,
        reader: InMemoryMetricReader | None = None,
    ) -> None:
        """``reader``: an in-memory reader already registered on ``meter_provider`` (as
        :func:`processors.telemetry.configure` makes one); ``/metrics`` then reads from it and
        every measurement is taken once, not on a second, private provider."""
        self.daemon = daemon
        self.group_id = group_id
        self._base: dict[str, AttributeValue] = {"daemon": daemon, "consumer_group": group_id}
        self._lock = threading.Lock()
        self._in_flight = 0
        self._ready = False
        self._lag: dict[tuple[str, int], int] = {}
        self._counts: Counter[tuple[str, str, int | None]] = Counter()
        self._per_topic: dict[str, dict[str, AttributeValue]] = {}
        external = meter_provider if meter_provider is not None else otel.get_meter_provider()
        meters = [external.get_meter(METER_NAME)]
        if reader is None or meter_provider is None:
            reader = InMemoryMetricReader()
            local = SdkMeterProvider(  # /metrics renders no exemplars: none are sampled
                metric_readers=[reader], shutdown_on_exit=False,
                exemplar_filter=AlwaysOffExemplarFilter(),
            )  # fmt: skip
            meters.insert(0, local.get_meter(METER_NAME))
        self._reader = reader
        self._instruments = [_Instruments(meter, self) for meter in meters]
        self._decisions = [_DecisionInstruments(meter) for meter in meters]
        with _LIVE_LOCK:
            _LIVE.add(self)

    # ---- what the runtime calls ---------------------------------------------------------

    def consumed(self, topic: str, partition: int) -> None:
        """One event read from ``topic``/``partition``."""
        self._count(CONSUMED.otel_name, topic, partition)

    def produced(self, topic: str, count: int = 1) -> None:
        """``count`` records written to ``topic``."""
        self._count(PRODUCED.otel_name, topic, None, count)

    def dead_lettered(self, topic: str, error_type: str) -> None:
        """One event from ``topic`` given up on because of ``error_type``."""
        attributes = self._attributes(topic=topic, error_type=error_type)
        for i in self._instruments:
            i.dead_lettered.add(1, attributes)

    def skipped(self, topic: str, partition: int) -> None:
        """One event read again that a previous owner of its partition had finished."""
        self._count(SKIPPED.otel_name, topic, partition)

    def retried(self, topic: str, error_type: str) -> None:
        """One failed attempt on an event from ``topic`` that will be tried again."""
        attributes = self._attributes(topic=topic, error_type=error_type)
        for i in self._instruments:
            i.retries.add(1, attributes)

    def in_flight(self, n: int) -> None:
        """Set how many events are consumed but not finished."""
        with self._lock:
            self._in_flight = n

    def processing_time(self, topic: str, seconds: float) -> None:
        """How long one event from ``topic`` took, consume to finish."""
        attributes = self._per_topic.get(topic)
        if attributes is None:  # once per topic: this is measured for every event
            attributes = self._per_topic[topic] = self._attributes(topic=topic)
        for i in self._instruments:
            i.processing.record(seconds, attributes)

    def lag(self, topic: str, partition: int, lag: int) -> None:
        """Set the consumer lag of one partition."""
        with self._lock:
            self._lag[(topic, partition)] = lag

    def forget_partition(self, topic: str, partition: int) -> None:
        """Drop the lag series of a partition this consumer no longer owns (revoked, lost)."""
        with self._lock:
            self._lag.pop((topic, partition), None)

    def set_ready(self, ready: bool) -> None:
        """Ready: partitions assigned and caught up. ``/readyz`` answers from this flag."""
        with self._lock:
            self._ready = ready

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._ready

    # ---- Prometheus ---------------------------------------------------------------------

    def render_prometheus(self) -> str:
        """Every metric in the Prometheus text exposition format, version 0.0.4."""
        data = self._reader.get_metrics_data()
        found: dict[str, Sum | Gauge | Histogram] = {}
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if isinstance(metric.data, Sum | Gauge | Histogram):
                        found[metric.name] = metric.data
        lines: list[str] = []
        for spec in SPECS:
            lines.append(f"# HELP {spec.prometheus_name} {_escape_help(spec.help)}")
            lines.append(f"# TYPE {spec.prometheus_name} {spec.kind}")
            points = found.get(spec.otel_name)
            if isinstance(points, Histogram):
                lines.extend(_histogram_lines(spec.prometheus_name, points))
            elif points is not None:
                for point in points.data_points:
                    labels = _labels(point.attributes or {})
                    lines.append(f"{spec.prometheus_name}{labels} {_number(point.value)}")
        return "\n".join(lines) + "\n"

    # ---- internals ----------------------------------------------------------------------

    def _attributes(self, **extra: str | int) -> dict[str, AttributeValue]:
        return {**self._base, **extra}

    def _count(self, name: str, topic: str, partition: int | None, n: int = 1) -> None:
        with self._lock:
            self._counts[(name, topic, partition)] += n

    def _counts_of(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        """The observable counter's callback: the totals of ``name`` so far, per attributes."""

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self._lock:
                totals = [(k, v) for k, v in self._counts.items() if k[0] == name]
            return [
                Observation(total, self._attributes(topic=topic, partition=partition)
                            if partition is not None else self._attributes(topic=topic))
                for (_, topic, partition), total in sorted(totals, key=lambda kv: str(kv[0]))
            ]  # fmt: skip

        return observe

    def _observe_in_flight(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            return [Observation(self._in_flight, self._base)]

    def _observe_ready(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            return [Observation(1 if self._ready else 0, self._base)]

    def _observe_lag(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            lags = sorted(self._lag.items())
        return [
            Observation(lag, self._attributes(topic=topic, partition=partition))
            for (topic, partition), lag in lags
        ]


def _histogram_lines(name: str, data: Histogram) -> list[str]:
    lines = []
    for point in data.data_points:
        attributes = point.attributes or {}
        cumulative = 0
        for bound, count in zip(point.explicit_bounds, point.bucket_counts, strict=False):
            cumulative += count
            lines.append(f"{name}_bucket{_labels(attributes, le=_number(bound))} {cumulative}")
        lines.append(f"{name}_bucket{_labels(attributes, le='+Inf')} {point.count}")
        lines.append(f"{name}_sum{_labels(attributes)} {_number(point.sum)}")
        lines.append(f"{name}_count{_labels(attributes)} {point.count}")
    return lines


def _labels(attributes: Mapping[str, AttributeValue], le: str | None = None) -> str:
    pairs = [(key, _label_value(value)) for key, value in attributes.items()]
    if le is not None:
        pairs.append(("le", le))
    if not pairs:
        return ""
    return "{" + ",".join(f'{key}="{_escape_label(value)}"' for key, value in pairs) + "}"


def _label_value(value: AttributeValue) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence):
        return ",".join(str(v) for v in value)
    return str(value)


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))
