"""Scale one daemon 1 → 3 → 1 processes while events flow, as KEDA would, and measure it.

:func:`scale_1_3_1` feeds a steady stream of question events (``keys`` keys; a scripted handler
of ``handler_ms``, LLM-like seconds, so the runs a revocation cancels show) into a fresh group
of real ``daemons run`` processes of the test app, adds two processes, later stops them with
SIGTERM, and reads the output topic. It reports, per scale step, the rebalance callbacks the
processes logged and the longest gap between consecutive outputs of the whole group (record
timestamps) in that step's window — an eager rebalance stops every partition, an incremental
one only those that move — and for the whole run the events lost, run more than once, and
per-key order violations. ``tests/runtime/test_scaling.py`` asserts what must hold;
``benchmarks/scaling.py`` compares the group protocols in one run.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from processors.kafka.clients import Contracts, consumer_config, ephemeral_group, producer_config
from processors.settings import Settings

APP = "processors.testing.apps:echo"
PROTOCOLS: Mapping[str, Mapping[str, str]] = {
    # the classic protocol with an eager assignor: every rebalance revokes every partition
    "classic-eager": {"DAEMONS_GROUP_PROTOCOL": "classic",
                      "KAFKA_PARTITION_ASSIGNMENT_STRATEGY": "range"},
    "classic-cooperative": {"DAEMONS_GROUP_PROTOCOL": "classic"},
    "consumer": {"DAEMONS_GROUP_PROTOCOL": "consumer"},  # KIP-848
}  # fmt: skip
_CALLBACK = re.compile(r"\b(assigned|revoked|lost) \[(.*)\]")
_PARTITION = re.compile(r"\('[^']+', (\d+)\)")


@dataclass
class Step:
    name: str
    start: float  # wall-clock seconds (record timestamps are wall clock)
    end: float = 0.0
    callbacks: int = 0  # non-empty assign/revoke/lost callbacks logged by the processes
    longest_pause_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"step": self.name, "rebalance_callbacks": self.callbacks,
                "longest_pause_s": round(self.longest_pause_s, 3),
                "window_s": round(self.end - self.start, 1)}  # fmt: skip


@dataclass
class ScalingRun:
    protocol: str
    produced: int = 0
    outputs: int = 0
    lost: int = 0
    run_twice: int = 0
    order_violations: int = 0
    steps: list[Step] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    logs: dict[str, str] = field(default_factory=dict)
    timeline: list[tuple[float, str, int]] = field(default_factory=list)  # (ts, event, partition)

    def as_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "produced": self.produced, "outputs": self.outputs,
                "lost": self.lost, "run_twice": self.run_twice,
                "order_violations": self.order_violations, "exit_codes": self.exit_codes,
                "steps": [s.as_dict() for s in self.steps]}  # fmt: skip


def scale_1_3_1(
    settings: Settings, contracts: Contracts, protocol: str, workdir: Path, *,
    rate: float = 30.0, handler_ms: int = 2000, settle_s: float = 10.0, keys: int = 300,
    concurrency: int = 128,
) -> ScalingRun:  # fmt: skip
    """One run of the scenario with ``protocol`` (a key of :data:`PROTOCOLS`)."""
    group = f"scale-{protocol}-{uuid.uuid4().hex[:6]}"
    run = ScalingRun(protocol)
    feeder = _Feeder(settings, contracts, rate, handler_ms, keys)
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs = {name: workdir / f"{protocol}-{name}.log" for name in ("p1", "p2", "p3")}
    try:
        feeder.start()
        procs["p1"] = _start(settings, group, logs["p1"], protocol, concurrency)
        _wait_for(lambda: _callbacks(logs["p1"]) > 0, 120, "p1 was never assigned partitions")
        time.sleep(settle_s)
        up = Step("1→3", time.time())
        mark = {n: _callbacks(p) for n, p in logs.items()}
        procs["p2"] = _start(settings, group, logs["p2"], protocol, concurrency)
        procs["p3"] = _start(settings, group, logs["p3"], protocol, concurrency)
        _wait_for(
            lambda: all(_assigned_now(logs[n]) for n in ("p1", "p2", "p3")), 120,
            "the three processes never all held partitions",
        )  # fmt: skip
        time.sleep(settle_s)
        up.end = time.time()
        up.callbacks = sum(_callbacks(p) - mark[n] for n, p in logs.items())
        down = Step("3→1", time.time())
        mark = {n: _callbacks(p) for n, p in logs.items()}
        for name in ("p2", "p3"):
            procs[name].send_signal(signal.SIGTERM)
        for name in ("p2", "p3"):
            run.exit_codes.append(procs[name].wait(90))
        time.sleep(settle_s)
        down.end = time.time()
        down.callbacks = sum(_callbacks(p) - mark[n] for n, p in logs.items())
        run.steps = [up, down]
        feeder.stop()
        run.produced = len(feeder.sent)
        outputs = _read_outputs(settings, contracts, feeder.sent)
    finally:
        feeder.stop()
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            if name == "p1":
                run.exit_codes.insert(0, proc.wait(90))
            elif proc.poll() is None:
                proc.kill()
        run.logs = {n: p.read_text(errors="replace")[-3000:] for n, p in logs.items() if p.exists()}
    _score(run, feeder.sent, outputs)
    return run


class _Feeder:
    """Produces ``rate`` events a second round-robin over ``keys`` principals until stopped;
    ``sent`` lists (event id, key, sequence number within the key) in send order."""

    def __init__(
        self, settings: Settings, contracts: Contracts, rate: float, handler_ms: int, keys: int
    ) -> None:
        self.settings, self.contracts, self.rate = settings, contracts, rate
        self.handler_ms, self.keys = handler_ms, keys
        self.sent: list[tuple[str, str, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(60)
        if self.error is not None:
            raise self.error

    def _main(self) -> None:
        try:
            self._feed()
        except BaseException as exc:  # noqa: BLE001 - re-raised by stop()
            self.error = exc

    def _feed(self) -> None:
        spec = self.contracts.catalog.get("questions.asked")
        topic = self.contracts.catalog.physical("questions.asked")
        producer = Producer(producer_config(self.settings))
        per_key: Counter[str] = Counter()
        started, i = time.monotonic(), 0
        while not self._stop.is_set():
            key = f"u{i % self.keys}"
            event_id = f"s{i:06d}-{uuid.uuid4().hex[:6]}"
            event = {
                "event_id": event_id, "tenant_id": "t1",
                "principal_id": key, "occurred_at": dt.datetime.now(dt.UTC),
                "question_id": f"q{i}", "question": f"sleep:{self.handler_ms}",
                "conversation_id": None,
            }  # fmt: skip
            value = self.contracts.codec.encode(spec.value_schema, event, topic=topic)
            producer.produce(topic, key=f"t1:{key}".encode(), value=value)
            self.sent.append((event_id, key, per_key[key]))
            per_key[key] += 1
            i += 1
            producer.poll(0)
            delay = started + i / self.rate - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
        if producer.flush(30) != 0:
            raise RuntimeError("the feeder's last events were not acknowledged in 30 s")


def _start(
    settings: Settings, group: str, log: Path, protocol: str, concurrency: int
) -> subprocess.Popen[bytes]:  # fmt: skip
    env = {
        **os.environ, **PROTOCOLS[protocol],
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "DAEMONS_TOPIC_PREFIX": settings.topic_prefix,
    }  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "processors", "run", APP, "--group-id", group,
             "--grace", "20", "--concurrency", str(concurrency)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _events(log: Path) -> list[tuple[str, str]]:
    if not log.exists():
        return []
    found = _CALLBACK.findall(log.read_text(errors="replace"))
    return [(kind, parts) for kind, parts in found if parts.strip()]


def _callbacks(log: Path) -> int:
    return len(_events(log))


def _assigned_now(log: Path) -> bool:
    """The process holds partitions now: what its callbacks assigned minus what they revoked
    or lost (incremental protocols move only some; eager revokes all, then assigns)."""
    held: set[str] = set()
    for kind, parts in _events(log):
        moved = set(_PARTITION.findall(parts))
        held = held | moved if kind == "assigned" else held - moved
    return bool(held)


def _wait_for(condition: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(message)
        time.sleep(0.2)


def _read_outputs(
    settings: Settings, contracts: Contracts, sent: list[tuple[str, str, int]],
    timeout: float = 120.0,
) -> list[tuple[float, str, int]]:  # fmt: skip
    """(timestamp in s, event id, partition) of every output, in topic order per partition,
    until every sent event has one (or ``timeout``)."""
    wanted = {event_id for event_id, _, _ in sent}
    consumer = Consumer(consumer_config(settings, ephemeral_group("scaling-reader")))
    consumer.subscribe([contracts.catalog.physical("questions.answered")])
    out: list[tuple[float, str, int]] = []
    seen: set[str] = set()
    deadline = time.monotonic() + timeout
    try:
        while not wanted <= seen and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            event_id = contracts.codec.decode(msg.value())["event_id"]
            out.append((msg.timestamp()[1] / 1000, event_id, msg.partition() or 0))
            seen.add(event_id)
    finally:
        consumer.close()
    return out


def _score(
    run: ScalingRun, sent: list[tuple[str, str, int]], outputs: list[tuple[float, str, int]]
) -> None:
    run.timeline = outputs
    by_id = {event_id: (key, seq) for event_id, key, seq in sent}
    counts = Counter(event_id for _, event_id, _ in outputs)
    run.outputs = len(outputs)
    run.lost = sum(1 for event_id in by_id if counts[event_id] == 0)
    run.run_twice = sum(1 for n in counts.values() if n > 1)
    # per key, the first output of each event must come in the order the events were sent
    # (a later copy of an event run twice is a duplicate, counted above, not a reordering)
    last: dict[str, int] = {}
    first: set[str] = set()
    for _, event_id, _ in sorted(outputs, key=lambda o: o[0]):
        if event_id in first or event_id not in by_id:
            continue
        first.add(event_id)
        key, seq = by_id[event_id]
        if seq < last.get(key, -1):
            run.order_violations += 1
        last[key] = max(last.get(key, -1), seq)
    stamps = sorted(t for t, _, _ in outputs)
    for step in run.steps:
        inside = [t for t in stamps if step.start <= t <= step.end]
        edges = [step.start, *inside, step.end]
        step.longest_pause_s = max(b - a for a, b in itertools.pairwise(edges))
