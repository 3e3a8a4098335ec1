"""Our runtime against the peers a user would pick instead: same broker, same input, one run.

    python3 -m venv /tmp/peers-venv && /tmp/peers-venv/bin/pip install -e '.[peers]'
    /tmp/peers-venv/bin/python benchmarks/peers.py [--events 20000 --rounds 2 --slow-events 2000]

(A separate virtualenv: Quix Streams pins confluent-kafka below 2.13, and every framework here
then runs on that same librdkafka.) ``KAFKA_BOOTSTRAP_SERVERS`` if set, else a throwaway local
broker. Input: ``QuestionAsked`` Avro records, 8 partitions, 1,000 keys; every framework runs
as its own process (``peers.py worker ...``) in its own consumer group, reading from the start.

(a) pass-through, the same per-event work for all: Avro decode, one CONSUMER span per event
    (child of the context in the headers), Avro encode, produce with the span's context in the
    headers, at-least-once (offsets committed only after the output is acknowledged, or the
    framework's own equivalent). ``ours``: the daemon path (``Runner``, concurrency 256);
    ``quix``: Quix Streams (``Application``, ``processing_guarantee="at-least-once"``, its
    default 5 s commit interval); ``faststream``: FastStream's confluent broker with its
    ``KafkaTelemetryMiddleware`` (which makes the span and injects the context) and
    ``AckPolicy.ACK``; ``bare``: a confluent-kafka loop doing that same work by hand.
(b) a 200 ms async handler, 2,000 events over 1,000 keys, each with its best documented
    concurrency: ours at 256; Quix Streams one replica per partition (8 processes; its handlers
    are synchronous); FastStream ``max_workers=256`` (which it allows only with
    ``AckPolicy.ACK_FIRST``, i.e. committing before processing); a plain thread pool of 256.
    Per-key order violations counted on the outputs.
(c) SIGKILL each framework's process once when half the outputs are out, restart it, and
    count input events whose output never appears (and duplicates).

Prints readable lines and, as its LAST line, one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import NewTopic
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from processors import telemetry
from processors.kafka.admin import apply_topics
from processors.kafka.clients import (
    Contracts,
    admin_client,
    consumer_config,
    ephemeral_group,
    producer_config,
)
from processors.runtime.daemon import Daemon, EventContext, Output
from processors.runtime.runner import Runner
from processors.settings import Settings
from processors.testing.broker import session_broker
from processors.tracing import extract_context, inject_headers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime import Reader, answer

ROOT = Path(__file__).resolve().parent.parent
IN, OUT = "questions.asked", "questions.answered"
PARTITIONS, KEYS, SLOW_S = 8, 1000, 0.2
FRAMEWORKS = ("ours", "quix", "faststream", "bare")


# ---- the same work for everyone ------------------------------------------------------------


def question(i: int, slow: bool) -> dict[str, Any]:
    return {
        "event_id": f"e{i:06d}", "tenant_id": "t1", "principal_id": f"u{i % KEYS}",
        "occurred_at": dt.datetime.now(dt.UTC), "question_id": f"q{i}",
        "question": "sleep:200" if slow else "hi", "conversation_id": None,
    }  # fmt: skip


class Work:
    """Decode, answer, encode (the span is the caller's: by hand, or the framework's)."""

    def __init__(self, contracts: Contracts) -> None:
        self.codec, self.catalog = contracts.codec, contracts.catalog
        self.source, self.sink = self.catalog.physical(IN), self.catalog.physical(OUT)
        self.in_schema = self.catalog.get(IN).value_schema
        self.out_schema = self.catalog.get(OUT).value_schema
        self.tracer = telemetry.tracer("bench.peers")

    def __call__(self, value: bytes, partition: int, offset: int) -> tuple[bytes, bool]:
        event = self.codec.decode(value, self.in_schema)
        out = self.codec.encode(self.out_schema, answer(event, partition, offset), topic=self.sink)
        return out, event["question"].startswith("sleep:")

    def span(self, headers: Any, partition: int, offset: int, group: str) -> trace.Span:
        return self.tracer.start_span(
            f"process {self.source}", context=extract_context(headers), kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "kafka", "messaging.operation.type": "process",
                        "messaging.destination.name": self.source,
                        "messaging.destination.partition.id": str(partition),
                        "messaging.kafka.offset": offset,
                        "messaging.consumer.group.name": group},
        )  # fmt: skip


# ---- workers (one process each) ------------------------------------------------------------


def run_ours(settings: Settings, contracts: Contracts, group: str, slow: bool) -> None:
    """(a): a plain handler — the work never waits, and the runtime runs a plain handler
    inline, with no task per event (as Quix Streams' handlers and the bare loop); (b): an
    ``async`` one, for the sleep."""

    def handle(event: dict[str, Any], ctx: EventContext) -> list[Output]:
        return [Output(OUT, answer(event, ctx.partition, ctx.offset))]

    async def handle_slow(event: dict[str, Any], ctx: EventContext) -> list[Output]:
        if event["question"].startswith("sleep:"):
            await asyncio.sleep(SLOW_S)
        return [Output(OUT, answer(event, ctx.partition, ctx.offset))]

    daemon = Daemon(name="peers", inputs=(IN,), outputs=(OUT,),
                    handler=handle_slow if slow else handle,
                    dead_letter_topic="question-answering.dlq", group_id=group)  # fmt: skip
    runner = Runner(daemon, settings, contracts, concurrency=256)

    async def main() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await runner.run(stop)

    asyncio.run(main())


def run_bare(settings: Settings, contracts: Contracts, group: str, slow: bool) -> None:
    """By hand: consume, the work in a CONSUMER span, produce with its context, commit what
    was acknowledged every 0.2 s. ``slow``: a plain thread pool of 256 runs each handler (no
    per-key order, offsets stored as handlers finish)."""
    work = Work(contracts)
    consumer = Consumer(consumer_config(settings, group))
    producer = Producer(producer_config(settings))
    consumer.subscribe([work.source])
    pool = ThreadPoolExecutor(256) if slow else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def one(msg: Any) -> None:
        span = work.span(msg.headers(), msg.partition(), msg.offset(), group)
        value, sleeps = work(msg.value(), msg.partition(), msg.offset())
        if sleeps:
            time.sleep(SLOW_S)
        headers = inject_headers(None, trace.set_span_in_context(span))
        producer.produce(work.sink, key=msg.key(), value=value, headers=headers)
        span.end()
        consumer.store_offsets(msg)

    last_commit = time.monotonic()
    while not stop.is_set():
        for msg in consumer.consume(1000, 0.1):
            if msg.error() is not None:
                continue
            if pool is None:
                one(msg)
                producer.poll(0)
            else:
                pool.submit(one, msg)
        producer.poll(0)
        if time.monotonic() - last_commit > 0.2:
            producer.flush(30)  # outputs acknowledged before their inputs are committed
            with contextlib.suppress(KafkaException):
                consumer.commit(asynchronous=True)
            last_commit = time.monotonic()
    producer.flush(30)
    consumer.close()


def run_quix(settings: Settings, contracts: Contracts, group: str, slow: bool) -> None:
    from quixstreams import Application, message_context

    work = Work(contracts)
    app = Application(
        broker_address=settings.kafka.bootstrap_servers, consumer_group=group,
        auto_offset_reset="earliest", processing_guarantee="at-least-once",
        use_changelog_topics=False, auto_create_topics=False,
    )  # fmt: skip
    source = app.topic(work.source, key_deserializer="bytes", value_deserializer="bytes")
    sink = app.topic(work.sink, key_serializer="bytes", value_serializer="bytes")
    sdf = app.dataframe(source)

    def process(value: bytes, key: Any, timestamp: int, headers: Any) -> tuple[bytes, Any]:
        row = message_context()
        span = work.span(headers, row.partition, row.offset, group)
        out, sleeps = work(value, row.partition, row.offset)
        if sleeps:
            time.sleep(SLOW_S)  # Quix Streams handlers are synchronous
        carried = inject_headers(None, trace.set_span_in_context(span))
        span.end()
        return out, carried

    sdf = sdf.apply(process, metadata=True)
    sdf = sdf.set_headers(lambda value, key, timestamp, headers: value[1])
    sdf = sdf.apply(lambda value: value[0])
    sdf.to_topic(sink)
    signal.signal(signal.SIGTERM, lambda *_: app.stop())
    app.run()


def run_faststream(settings: Settings, contracts: Contracts, group: str, slow: bool) -> None:
    from faststream import FastStream
    from faststream.confluent import KafkaBroker, KafkaMessage
    from faststream.confluent.opentelemetry import KafkaTelemetryMiddleware
    from faststream.middlewares import AckPolicy

    work = Work(contracts)
    broker = KafkaBroker(
        settings.kafka.bootstrap_servers,
        middlewares=(KafkaTelemetryMiddleware(tracer_provider=telemetry.tracer_provider()),),
    )
    publisher = broker.publisher(work.sink)
    options: dict[str, Any] = (
        {"max_workers": 256, "ack_policy": AckPolicy.ACK_FIRST} if slow
        else {"ack_policy": AckPolicy.ACK}
    )  # fmt: skip

    @broker.subscriber(work.source, group_id=group, auto_offset_reset="earliest", **options)
    async def handle(body: bytes, msg: KafkaMessage) -> None:
        raw = msg.raw_message
        out, sleeps = work(body, raw.partition(), raw.offset())
        if sleeps:
            await asyncio.sleep(SLOW_S)
        await publisher.publish(out, key=raw.key())

    asyncio.run(FastStream(broker).run())


WORKERS = {"ours": run_ours, "bare": run_bare, "quix": run_quix, "faststream": run_faststream}


def worker_main(argv: list[str]) -> None:
    framework, group, slow = argv[0], argv[1], argv[2] == "slow"
    settings = Settings.from_env()
    telemetry.tracer_provider()  # the same SDK provider (no exporter) for every framework
    contracts = Contracts.load(settings)
    profile = os.environ.get("PEERS_CPROFILE")  # --wrap "ours=env PEERS_CPROFILE=/tmp/x.prof"
    if not profile:
        WORKERS[framework](settings, contracts, group, slow)
        return
    import cProfile

    with cProfile.Profile() as profiler:
        WORKERS[framework](settings, contracts, group, slow)
    profiler.dump_stats(profile)


# ---- the parent: input, processes, reading the outputs -----------------------------------------


def fresh(base: Settings) -> tuple[Settings, Contracts]:
    """Topics of our own: input and output with 8 partitions, the rest as the catalogue says."""
    settings = base.model_copy(update={"topic_prefix": f"peers{uuid.uuid4().hex[:8]}."})
    contracts = Contracts.load(settings)
    admin = admin_client(settings)
    names = [contracts.catalog.physical(IN), contracts.catalog.physical(OUT)]
    for future in admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names]).values():
        future.result(30)
    deadline = time.monotonic() + 30  # visible in metadata before the catalogue is applied
    while not set(names) <= set(admin.list_topics(timeout=10).topics):
        assert time.monotonic() < deadline, f"topics {names} never became visible"
        time.sleep(0.2)
    apply_topics(admin, contracts.catalog)
    return settings, contracts


def produce(settings: Settings, contracts: Contracts, n: int, slow: bool) -> list[str]:
    spec, physical = contracts.catalog.get(IN), contracts.catalog.physical(IN)
    producer = Producer(producer_config(settings))
    ids = []
    for i in range(n):
        event = question(i, slow)
        ids.append(event["event_id"])
        value = contracts.codec.encode(spec.value_schema, event, topic=physical)
        producer.produce(physical, key=spec.key_for(event), value=value,
                         headers=inject_headers([]))  # fmt: skip
        if i % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0
    return ids


WRAP: dict[str, list[str]] = {}
"""``--wrap FRAMEWORK=COMMAND``: a command each of that framework's workers runs under, e.g.
``ours='py-spy record --nonblocking -r 500 --format raw -o /tmp/ours-{n}.txt --'`` (``{n}``:
a number per worker)."""
_spawned = itertools.count()


def spawn(framework: str, settings: Settings, group: str, slow: bool, log: Path) -> Any:
    number = str(next(_spawned))
    wrap = [part.replace("{n}", number) for part in WRAP.get(framework, [])]
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "DAEMONS_TOPIC_PREFIX": settings.topic_prefix,
        "OTEL_TRACES_EXPORTER": "none",
    }
    with log.open("ab") as sink:
        return subprocess.Popen(
            [*wrap, sys.executable, str(Path(__file__).resolve()), "worker", framework, group,
             "slow" if slow else "pass"],
            env=env, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of processes so far, every thread (librdkafka's too), from
    ``/proc/<pid>/stat`` (clock ticks, 10 ms here)."""
    total, todo = 0, list(pids)
    while todo:  # and their children: a worker under ``--wrap`` is the wrapper's child
        pid = todo.pop()
        with contextlib.suppress(OSError):  # a process that already exited counts 0
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            todo.extend(int(c) for c in children)
    return total / os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """Samples (time, CPU seconds of the workers, outputs read) every ``every`` seconds in a
    thread, so the CPU a framework spends per event can be read off beside its rate: on a
    shared machine the rate moves with what else runs, CPU per event far less."""

    def __init__(self, reader: Reader, every: float = 0.02) -> None:
        self.reader, self.every = reader, every
        self.pids: list[int] = []
        self.samples: list[tuple[float, float, int]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> None:
        self.samples.append((time.monotonic(), cpu_seconds(self.pids), len(self.reader.seen)))

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sample()

    def figures(self, n: int) -> dict[str, float]:
        """``cpu_us_per_event``: the workers' CPU between the samples where 10 % and 90 % of the
        outputs had been read, per output read in between (the steady state, as
        ``steady_eps``); ``cpu_us_per_event_run``: from the last sample before the first
        output to the first with all of them, per event (start-up before the first output
        left out; ``startup_cpu_s`` is that); ``cpu_share``: CPU seconds per wall second in
        the steady window (1.0 = one core busy)."""
        samples = self.samples
        if not samples or samples[-1][2] == 0:
            return {}
        out: dict[str, float] = {}
        lo = next(s for s in samples if s[2] >= n // 10)
        hi = next((s for s in samples if s[2] >= n * 9 // 10), samples[-1])
        if hi[2] > lo[2] and hi[0] > lo[0]:
            out["cpu_us_per_event"] = round((hi[1] - lo[1]) / (hi[2] - lo[2]) * 1e6, 1)
            out["cpu_share"] = round((hi[1] - lo[1]) / (hi[0] - lo[0]), 3)
        before = [s for s in samples if s[2] == 0]
        done = next((s for s in samples if s[2] >= n), None)
        if before and done is not None:
            out["cpu_us_per_event_run"] = round((done[1] - before[-1][1]) / n * 1e6, 1)
            out["startup_cpu_s"] = round(before[-1][1], 2)
        return out


def stop(procs: list[Any]) -> None:
    for proc in procs:
        if proc.poll() is None:
            # a wrapped worker (--wrap) is stopped itself; its wrapper (a profiler) then
            # writes what it recorded and exits
            wrapped = proc.args[0] != sys.executable
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            for pid in [int(c) for c in children if wrapped] or [proc.pid]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def analyse(contracts: Contracts, reader: Reader, ids: list[str]) -> dict[str, int]:
    """Lost and duplicated events; per-key order violations (the first output of each event,
    per key in output offset order, must follow the inputs' offsets)."""
    by_key: dict[bytes | None, list[tuple[int, int, int, int]]] = defaultdict(list)
    seen: set[str] = set()
    duplicates = 0
    for part, off, key, value, _ts in sorted(reader.records, key=lambda r: (r[0], r[1])):
        record = contracts.codec.decode(value)
        if record["event_id"] in seen:  # a redone event: at-least-once, not a reordering
            duplicates += 1
            continue
        seen.add(record["event_id"])
        in_part, in_off = (int(x) for x in record["run_id"].split("-"))
        by_key[key].append((part, off, in_part, in_off))
    violations = 0
    for rows in by_key.values():
        rows.sort()
        violations += sum(1 for a, b in itertools.pairwise(rows) if (b[2], b[3]) < (a[2], a[3]))
    return {"lost": len(set(ids) - seen), "duplicates": duplicates, "violations": violations}


def steady_rates(arrivals: list[float]) -> dict[str, float]:
    """The rate without start-up and drain: over the middle 80 % of the outputs by their
    arrival at the reader (not their CreateTime: Quix Streams gives an output its input's
    timestamp). ``steady_eps`` counts the outputs that arrived in the half-open window
    (t10, t90] — after the 10th percentile's arrival, up to and including the 90th's — per
    second of it, so a burst at an edge counts once. ``steady_eps_index`` is the earlier
    count of ranks between the two (90th - 10th), which counts a burst at an edge only by
    its ranks inside the window: (b)'s 2,000 outputs in eight waves of 256 exactly 200 ms
    apart read 1,142/s by it (1,599 ranks in 1.4 s), 1,246/s by ``steady_eps`` (waves 2-8,
    1,744 outputs; the last wave has 208), where the rate is 1,280/s."""
    lo, hi = len(arrivals) // 10, len(arrivals) * 9 // 10
    window = arrivals[hi - 1] - arrivals[lo] if hi - 1 > lo else 0.0
    if window <= 0:
        return {"steady_eps": 0.0, "steady_eps_index": 0.0}
    start, end = arrivals[lo], arrivals[hi - 1]
    inside = sum(1 for t in arrivals if start < t <= end)
    return {"steady_eps": round(inside / window, 1),
            "steady_eps_index": round((hi - 1 - lo) / window, 1)}  # fmt: skip


@dataclasses.dataclass
class Run:
    framework: str
    replicas: int = 1
    slow: bool = False
    kill: bool = False


def one_run(base: Settings, run: Run, n: int, timeout: float) -> dict[str, Any]:
    settings, contracts = fresh(base)
    ids = produce(settings, contracts, n, run.slow)

    def event_id(value: bytes) -> str:
        return str(contracts.codec.decode(value)["event_id"])

    reader = Reader(settings, contracts.catalog.physical(OUT), n, timeout, identity=event_id)
    group = ephemeral_group(f"peers-{run.framework}")
    log = Path(f"/tmp/peers-{run.framework}{'-slow' if run.slow else ''}.log")
    log.write_bytes(b"")
    sampler = CpuSampler(reader)
    started = time.monotonic()
    procs = [spawn(run.framework, settings, group, run.slow, log) for _ in range(run.replicas)]
    sampler.pids = [p.pid for p in procs]
    sampler.thread.start()
    killed_at = None
    try:
        while reader.thread.is_alive():
            if run.kill and killed_at is None and len(reader.records) >= n // 2:
                killed_at = len(reader.records)
                for proc in procs:
                    proc.send_signal(signal.SIGKILL)
                for proc in procs:
                    proc.wait(10)
                procs = [spawn(run.framework, settings, group, run.slow, log)
                         for _ in range(run.replicas)]  # fmt: skip
                sampler.pids = [p.pid for p in procs]  # CPU figures: not read on a kill run
            if any(p.poll() is not None for p in procs):
                print(f"WARNING: a {run.framework} worker exited, see {log}", flush=True)
                break
            reader.thread.join(0.05)
        sampler.stop()  # before the workers are stopped: their shutdown is not the work
        if run.kill:  # the stragglers: duplicates may arrive after the count is reached
            time.sleep(3)
    finally:
        stop(procs)
    reader.thread.join(30)
    wall = len(reader.seen) / (reader.last_at - started) if reader.records else 0.0
    arrivals = sorted(reader.arrivals)
    figures = {"outputs": len(reader.records), "eps": round(wall, 1),
               **steady_rates(arrivals), **analyse(contracts, reader, ids)}  # fmt: skip
    if arrivals:  # first to last output: (b)'s waves need (ceil(n / 256) - 1) x 200 ms of it
        figures["first_output_s"] = round(arrivals[0] - started, 3)
        figures["span_s"] = round(arrivals[-1] - arrivals[0], 3)
    if killed_at is not None:
        figures["killed_after_outputs"] = killed_at
    else:
        figures.update(sampler.figures(n))
    return figures


def raw_speed(seconds: float = 0.5) -> float:
    """The machine's raw speed now: millions of iterations per second of a fixed tight Python
    loop, so a slow run on a shared machine reads as a slow machine, not slow code."""
    n, x, deadline = 0, 0, time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for i in range(10_000):
            x += i
        n += 10_000
    return round(n / (time.perf_counter() - started) / 1e6, 2)


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import confluent_kafka

    found = {"librdkafka": confluent_kafka.libversion()[0]}
    for name in ("confluent-kafka", "quixstreams", "faststream"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--slow-events", type=int, default=2_000)
    parser.add_argument("--kill-events", type=int, default=20_000)
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    parser.add_argument("--sections", default="pass,slow,kill")
    parser.add_argument(
        "--wrap",
        action="append",
        default=[],
        metavar="FRAMEWORK=COMMAND",
        help="run that framework's workers under COMMAND (a profiler)",
    )
    args = parser.parse_args()
    for spec in args.wrap:
        framework, _, command = spec.partition("=")
        WRAP[framework] = shlex.split(command)
    frameworks = args.frameworks.split(",")
    sections = set(args.sections.split(","))
    figures: dict[str, Any] = {"versions": versions(), "events": args.events,
                               "partitions": PARTITIONS, "keys": KEYS,
                               "raw_speed_mips": raw_speed()}  # fmt: skip
    print(f"versions {figures['versions']}; raw speed {figures['raw_speed_mips']} M loop/s",
          flush=True)  # fmt: skip
    with session_broker(Settings.from_env()) as base:
        if "pass" in sections:
            for framework in frameworks:  # warm-up: the broker's first groups and PIDs
                one_run(base, Run(framework), 500, 120)
            for round_ in range(1, args.rounds + 1):
                for framework in frameworks:
                    r = one_run(base, Run(framework), args.events, args.events / 50 + 120)
                    figures[f"pass_{framework}_r{round_}"] = r
                    print(f"pass-through {framework:10s} round {round_}: {r}", flush=True)
            for peer in frameworks:
                if peer == "ours" or "ours" not in frameworks:
                    continue
                for kind in ("eps", "steady_eps"):
                    ours = max(figures[f"pass_ours_r{i}"][kind] for i in range(1, args.rounds + 1))
                    theirs = max(figures[f"pass_{peer}_r{i}"][kind]
                                 for i in range(1, args.rounds + 1))  # fmt: skip
                    figures[f"ours_vs_{peer}_{kind}"] = round(ours / theirs, 3) if theirs else None
                # CPU per event, the lowest of the rounds: theirs / ours is the rate ours would
                # have against theirs with a core each to itself (>= 1: ours is cheaper)
                cpu = [[figures[f"pass_{f}_r{i}"].get("cpu_us_per_event")
                        for i in range(1, args.rounds + 1)] for f in ("ours", peer)]  # fmt: skip
                if all(all(c) for c in cpu):
                    figures[f"ours_vs_{peer}_cpu"] = round(min(cpu[1]) / min(cpu[0]), 3)
        if "slow" in sections:
            bound = 256 / SLOW_S
            figures["slow_bound_eps"] = bound
            for framework in frameworks:
                replicas = PARTITIONS if framework == "quix" else 1
                r = one_run(base, Run(framework, replicas=replicas, slow=True), args.slow_events,
                            args.slow_events * SLOW_S + 120)  # fmt: skip
                r["replicas"] = replicas
                figures[f"slow_{framework}"] = r
                print(f"slow handler {framework:10s}: {r}", flush=True)
            if "ours" in frameworks:
                for kind in ("eps", "steady_eps"):
                    figures[f"slow_ours_{kind}_vs_bound"] = round(
                        figures["slow_ours"][kind] / bound, 3
                    )
        if "kill" in sections:
            for framework in frameworks:
                r = one_run(base, Run(framework, kill=True), args.kill_events,
                            args.kill_events / 50 + 180)  # fmt: skip
                figures[f"kill_{framework}"] = r
                print(f"SIGKILL mid-run {framework:10s}: {r}", flush=True)
    figures["raw_speed_mips_end"] = raw_speed()  # contention during the run shows here
    print(json.dumps(figures))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker_main(sys.argv[2:])
    else:
        main()
