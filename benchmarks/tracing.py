"""Tracing overhead per event on the runtime benchmark's no-op path (bar: <= 0.3 ms added).

    KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 .venv/bin/python benchmarks/tracing.py [--quick]

"on" is everything a production daemon does: an SDK tracer provider built by
``processors.telemetry.configure`` from ``OTEL_*`` variables (always-on sampling, batch OTLP
HTTP/protobuf export of every span to a loopback receiver, OTLP metrics too); "off" is the
API's no-op tracer provider (what ``OTEL_SDK_DISABLED=true`` gives: spans are not recorded,
trace context still passes through the headers).

- micro: the runtime's per-event tracing work alone (extract the context from the headers,
  the CONSUMER span, one PRODUCER span with context injection into the output headers), in a
  loop without Kafka — the pure CPU cost.
- e2e: the no-op daemon (``benchmarks/runtime.py``'s ``noop``) through ``Runner`` on the real
  broker, rounds alternating off/on; per event: wall time from the steady output rate and
  process CPU time. Medians over the rounds; "added" = on - off.

Prints readable lines and, as its LAST line, one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Tracer
from runtime import IN, OUT, Reader, fresh, noop, question

from processors import telemetry
from processors.kafka.clients import Contracts, admin_client, ephemeral_group
from processors.runtime.metrics import RuntimeMetrics
from processors.runtime.runner import Runner
from processors.settings import Settings
from processors.testing.broker import session_broker
from processors.testing.otlp import OtlpReceiver
from processors.testing.runtime import RunnerThread, produce_events
from processors.tracing import extract_context, inject_headers


def _on(endpoint: str) -> telemetry.Telemetry:
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    os.environ["OTEL_TRACES_SAMPLER"] = "parentbased_always_on"
    return telemetry.configure("noop", "noop-bench", install=False)


def micro(tracer: Tracer, n: int) -> float:
    """Microseconds per event of the runner's tracing work alone."""
    headers: list[tuple[str, Any]] = []
    with tracer.start_as_current_span("upstream", kind=SpanKind.PRODUCER):
        headers = inject_headers([("event_id", b"e1")])
    started = time.perf_counter()
    for i in range(n):
        span = tracer.start_span(
            f"process {IN}", context=extract_context(headers), kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "kafka", "messaging.operation.type": "process",
                        "messaging.destination.name": IN, "messaging.kafka.offset": i},
        )  # fmt: skip
        with trace.use_span(span, end_on_exit=False), tracer.start_as_current_span(
            f"send {OUT}", context=trace.set_span_in_context(span), kind=SpanKind.PRODUCER,
            attributes={"messaging.system": "kafka", "messaging.destination.name": OUT},
        ):  # fmt: skip
            inject_headers([("event_id", b"e1")])
        span.end()
    return (time.perf_counter() - started) / n * 1e6


def e2e(base: Settings, n: int, tracer: Tracer, metrics: RuntimeMetrics) -> tuple[float, float]:
    """(wall ms per event at the steady rate, process CPU ms per event) of one run."""
    settings, contracts = fresh(base)
    produce_events(settings, contracts, IN, [question(i, "hi", 1000) for i in range(n)])
    reader = Reader(settings, contracts.catalog.physical(OUT), n, timeout=300)
    daemon = dataclasses.replace(noop, group_id=ephemeral_group("noop"))
    cpu, started = time.process_time(), time.monotonic()
    runner = Runner(daemon, settings, contracts, concurrency=256, tracer=tracer, metrics=metrics)
    with RunnerThread(runner):
        reader.wait()
    cpu = time.process_time() - cpu
    assert len(reader.records) == n, f"{len(reader.records)}/{n} outputs"
    _, steady = reader.rates(started, n)
    _drop_topics(settings, contracts)
    return 1000.0 / steady, cpu / n * 1000.0


def _drop_topics(settings: Settings, contracts: Contracts) -> None:
    """Delete this round's topics: a shared broker must not collect thousands of partitions."""
    names = [contracts.catalog.physical(spec.name) for spec in contracts.catalog]
    admin = admin_client(settings)  # kept alive until the deletions are done
    for future in admin.delete_topics(names, operation_timeout=30).values():
        future.result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts")
    parser.add_argument("--events", type=int, default=None, help="events per e2e round")
    parser.add_argument("--rounds", type=int, default=3, help="e2e rounds per mode")
    args = parser.parse_args()
    n = args.events or (2_000 if args.quick else 5_000)
    figures: dict[str, Any] = {"events_per_round": n, "rounds": args.rounds}
    off_tracer = trace.NoOpTracerProvider().get_tracer("bench")
    with OtlpReceiver() as receiver:
        otel = _on(receiver.endpoint)
        on_tracer = otel.tracer_provider.get_tracer("bench")
        reps = 5_000 if args.quick else 20_000
        micro(on_tracer, 500)  # warm up
        off_us, on_us = micro(off_tracer, reps), micro(on_tracer, reps)
        figures.update(micro_off_us=round(off_us, 2), micro_on_us=round(on_us, 2),
                       micro_added_ms=round((on_us - off_us) / 1000, 4))  # fmt: skip
        print(f"micro: off {off_us:.1f} us/event, on {on_us:.1f} us/event, "
              f"added {(on_us - off_us) / 1000:.4f} ms/event", flush=True)  # fmt: skip

        walls: dict[str, list[float]] = {"off": [], "on": []}
        cpus: dict[str, list[float]] = {"off": [], "on": []}
        with session_broker(Settings.from_env()) as settings:
            for r in range(args.rounds):
                for mode in ("off", "on"):
                    if mode == "on":
                        metrics = RuntimeMetrics(
                            "noop", "noop-bench", otel.meter_provider, otel.prometheus
                        )
                        wall, cpu = e2e(settings, n, on_tracer, metrics)
                    else:
                        wall, cpu = e2e(settings, n, off_tracer, RuntimeMetrics("noop", "x"))
                    walls[mode].append(wall)
                    cpus[mode].append(cpu)
                    print(f"e2e round {r + 1} {mode:3s}: {wall:.3f} ms/event wall (steady), "
                          f"{cpu:.3f} ms/event CPU", flush=True)  # fmt: skip
        otel.shutdown()
        exported = len(receiver.bodies.get("/v1/traces", []))
    for mode in ("off", "on"):
        figures[f"e2e_{mode}_wall_ms"] = round(statistics.median(walls[mode]), 4)
        figures[f"e2e_{mode}_cpu_ms"] = round(statistics.median(cpus[mode]), 4)
    figures["e2e_added_wall_ms"] = round(figures["e2e_on_wall_ms"] - figures["e2e_off_wall_ms"], 4)
    figures["e2e_added_cpu_ms"] = round(figures["e2e_on_cpu_ms"] - figures["e2e_off_cpu_ms"], 4)
    figures["otlp_trace_requests"] = exported
    figures["bar_ms"] = 0.3
    figures["within_bar"] = max(figures["e2e_added_wall_ms"], figures["e2e_added_cpu_ms"]) <= 0.3
    print(f"added per event: {figures['e2e_added_wall_ms']:.4f} ms wall, "
          f"{figures['e2e_added_cpu_ms']:.4f} ms CPU (bar 0.3 ms); "
          f"{exported} OTLP trace requests received", flush=True)  # fmt: skip
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
