"""Issue 17 (a): a recurrence stream through the real vendor-enrichment daemon, memory off and on.

    .venv/bin/python benchmarks/recurrence.py [--events 150 --seed 7]

The stream: ``vendors.discovered`` events of the reference directory's businesses, each under
one to three descriptor variants (a payment processor's prefix, the name cut short as banks
do, a store number, the city), vendors and variants drawn with Zipf-like weights, as a bank
feed repeats its regular vendors under the same few descriptors. Each event is labelled with
the directory entry it is.

Each phase runs the real daemon (the runtime on the real broker — ``KAFKA_BOOTSTRAP_SERVERS``
or a throwaway local one —, the reference API over HTTP, the local model served by
``daemons llm serve``), one event at a time: memory **off** (no store), then memory **on**
(a fresh SQLite store with the MiniLM embedder, following ``memory.facts`` as
``daemons run --memory`` does; the next event is sent once the last one's memories are in
the store). Per phase: model calls per event, accuracy (the published result names the
labelled directory entry; a withheld or held result counts as wrong), p50/p95 of the agent's
wall time per event. Bars: calls and p50 with memory <= 0.3 of without, accuracy not lower.

The machine's raw speed (the 1.5B model's prompt and generated tokens/s on a fixed prompt) is
measured before each phase. The last line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from decision_cost import _free_port, _model_file, _wait_healthy, raw_speed  # noqa: E402

from processors.daemons import registry  # noqa: E402
from processors.daemons.handler import build_daemon  # noqa: E402
from processors.kafka.admin import apply_topics  # noqa: E402
from processors.kafka.clients import admin_client  # noqa: E402
from processors.llm.registry import load_model  # noqa: E402
from processors.memory.embedders import MiniLMEmbedder  # noqa: E402
from processors.memory.materializer import Materializer  # noqa: E402
from processors.memory.sqlite_store import SqliteMemoryStore  # noqa: E402
from processors.reference import data  # noqa: E402
from processors.runtime.runner import Runner  # noqa: E402
from processors.serde.json_codec import from_json  # noqa: E402
from processors.settings import Settings  # noqa: E402
from processors.testing.broker import session_broker  # noqa: E402
from processors.testing.harness import contracts_for, environment, reference_api  # noqa: E402
from processors.testing.runtime import RunnerThread, drain_topic, produce_events  # noqa: E402

MODEL = "qwen2.5-coder-1.5b"
PREFIXES = ("", "SQ *", "TST* ", "POS ")
TENANT, PRINCIPAL = "t-ridgeline", "u-ridgeline-owner"


def variants(name: str, city: str, region: str, rng: random.Random) -> list[str]:
    """One to three ways a bank writes this business: prefix, name cut short, store number."""
    words = name.upper().replace("'", "").split(" - ")[0]
    out = []
    for _ in range(rng.choice((1, 2, 2, 3))):
        cut = words[: rng.choice((len(words), 19, 15, 12))].rstrip()
        store = f" {rng.randint(1000, 9999)}" if rng.random() < 0.6 else ""
        out.append(f"{rng.choice(PREFIXES)}{cut}{store} {city.upper()} {region}")
    return sorted(set(out))


def stream(events: int, seed: int) -> list[dict[str, Any]]:
    """``events`` labelled events, Zipf-like over vendors and over each vendor's variants."""
    rng = random.Random(seed)
    businesses = data.directory()
    rng.shuffle(businesses)
    spelled = [(b, variants(b.name, b.city, b.region, rng)) for b in businesses]
    weights = [1 / (rank + 1) for rank in range(len(spelled))]
    out = []
    for i in range(events):
        business, names = rng.choices(spelled, weights)[0]
        descriptor = rng.choices(names, [1 / (r + 1) for r in range(len(names))])[0]
        out.append({
            "event_id": f"evt-rec-{seed}-{i:04d}", "tenant_id": TENANT, "principal_id": PRINCIPAL,
            "occurred_at": f"2026-10-{1 + i % 28:02d}T09:00:00Z", "transaction_id": "tx-r-017",
            "raw_descriptor": descriptor, "amount_minor": 1000 + i, "currency": "USD",
            "transaction_date": f"2026-10-{1 + i % 28:02d}", "label": business.business_id,
        })  # fmt: skip
    return out


def run_phase(
    name: str, events: list[dict[str, Any]], settings: Settings, model_url: str, memory: bool,
    logs: Path,
) -> dict[str, Any]:  # fmt: skip
    use_case = registry.use_case("vendor-enrichment")
    scoped = settings.model_copy(update={"topic_prefix": f"rec{uuid.uuid4().hex[:8]}."})
    contracts = contracts_for(use_case, scoped)
    apply_topics(admin_client(scoped), contracts.catalog)
    llm = scoped.llm.model_copy(update={"local_base_url": model_url})
    store = SqliteMemoryStore(logs / f"{name}.sqlite", MiniLMEmbedder()) if memory else None
    stop, follower = threading.Event(), None
    if store is not None:
        materializer = Materializer(scoped, contracts, store, poll=0.2)
        follower = threading.Thread(target=materializer.follow, args=(stop,), daemon=True)
        follower.start()
    schema = contracts.schemas.get(contracts.catalog.get(use_case.input_topic).value_schema).parsed
    results: list[dict[str, Any]] = []
    with reference_api() as api:
        client = httpx.AsyncClient()
        model = load_model(f"local:{MODEL}", llm)
        daemon = build_daemon(use_case, environment(api, model, client, store))
        runner = Runner(daemon, scoped, contracts, concurrency=1, grace=10.0)
        with RunnerThread(runner):
            for i, raw in enumerate(events):
                event = {k: v for k, v in raw.items() if k != "label"}
                produce_events(scoped, contracts, use_case.input_topic, [from_json(schema, event)])
                run, output, outcome = _wait(scoped, contracts, event["event_id"])
                if store is not None:  # its memories are in the store before the next event
                    _settle_memory(scoped, contracts, store)
                chosen = next((s.split(":", 1)[1] for s in (output or {}).get("sources", [])
                               if s.startswith("searchDirectory:")), None)  # fmt: skip
                results.append({
                    "event_id": event["event_id"], "label": raw["label"], "chosen": chosen,
                    "verdict": outcome.get("verdict"), "model_calls": len(run["model_calls"]),
                    "latency_ms": run["latency_ms"],
                })  # fmt: skip
                print(f"[{name}] {i + 1}/{len(events)} {results[-1]}", file=sys.stderr, flush=True)
        asyncio.run(client.aclose())
    stop.set()
    if follower is not None:
        follower.join(10)
    (logs / f"{name}.json").write_text(json.dumps(results, indent=1))
    return figures(results)


def _wait(
    settings: Settings, contracts: Any, event_id: str, timeout: float = 900.0
) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [r["value"] for r in drain_topic(settings, contracts, "daemons.runs", idle=0.5)]
        run = next((r for r in runs if r["event_id"] == event_id), None)
        outcomes = drain_topic(settings, contracts, "guardrails.outcomes", idle=0.5)
        outcome = next((o["value"] for o in outcomes if o["value"]["event_id"] == event_id), None)
        letters = drain_topic(settings, contracts, "vendor-enrichment.dlq", idle=0.5)
        letter = next((d["value"] for d in letters if d["value"].get("event_id") == event_id),
                      None)  # fmt: skip
        if letter is not None:
            reason = {k: v for k, v in letter.items() if "error" in k or "reason" in k}
            raise SystemExit(f"{event_id}: dead-lettered: {reason}")
        if run is not None and outcome is not None:  # both out
            outputs = drain_topic(settings, contracts, "vendors.enriched", idle=0.5)
            output = next((o["value"] for o in outputs if o["value"]["event_id"] == event_id),
                          None)  # fmt: skip
            return run, output, outcome
        time.sleep(0.5)
    raise SystemExit(f"{event_id}: no run record within {timeout:.0f} s")


def _settle_memory(settings: Settings, contracts: Any, store: SqliteMemoryStore) -> None:
    """Wait until the store has applied everything ``memory.facts`` holds now."""
    written = len(drain_topic(settings, contracts, "memory.facts", idle=0.5))
    deadline = time.monotonic() + 30
    while sum(store.positions().values()) < written and time.monotonic() < deadline:
        time.sleep(0.2)


def figures(results: list[dict[str, Any]]) -> dict[str, Any]:
    latencies = sorted(r["latency_ms"] / 1000 for r in results)
    right = sum(1 for r in results if r["verdict"] == "pass" and r["chosen"] == r["label"])
    return {
        "events": len(results),
        "model_calls_per_event": round(sum(r["model_calls"] for r in results) / len(results), 3),
        "accuracy": round(right / len(results), 3),
        "p50_s": round(statistics.median(latencies), 2),
        "p95_s": round(latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))], 2),
        "answered_without_model": sum(1 for r in results if r["model_calls"] == 0),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--off", type=Path, default=None,
        help="the memory-off phase's per-event results (off.json of an earlier run of the same "
        "events and seed) instead of running it again",
    )  # fmt: skip
    args = parser.parse_args(argv)
    events = stream(args.events, args.seed)
    distinct = len({e["raw_descriptor"] for e in events})
    print(f"{len(events)} events, {distinct} distinct descriptors, "
          f"{len({e['label'] for e in events})} vendors", file=sys.stderr)  # fmt: skip
    logs = Path(tempfile.mkdtemp(prefix="recurrence-"))
    python = sys.executable
    model_path = _model_file(python)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    with (logs / "llm.log").open("wb") as log:
        server = subprocess.Popen(
            [python, "-m", "processors", "llm", "serve", "--model", MODEL, "--port", str(port)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    report: dict[str, Any] = {"events": len(events), "distinct_descriptors": distinct,
                              "seed": args.seed, "model": MODEL}  # fmt: skip
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", server)
        with session_broker() as settings:
            if args.off is not None:
                off_results = json.loads(args.off.read_text())
                assert [r["event_id"] for r in off_results] == [e["event_id"] for e in events]
                report["off"] = figures(off_results) | {"from": str(args.off)}
            for name, memory in (("off", False), ("on", True)):
                if name in report:
                    continue
                report[f"raw_speed_{name}"] = raw_speed(python, model_path)
                report[name] = run_phase(
                    name, events, settings, f"http://127.0.0.1:{port}/v1", memory, logs
                )
                print(f"[{name}] {report[name]}", file=sys.stderr, flush=True)
    finally:
        server.terminate()
        server.wait(60)
    off, on = report["off"], report["on"]
    report["ratios"] = {
        "model_calls": round(
            on["model_calls_per_event"] / max(off["model_calls_per_event"], 1e-9), 3
        ),
        "p50": round(on["p50_s"] / max(off["p50_s"], 1e-9), 3),
        "accuracy_on_minus_off": round(on["accuracy"] - off["accuracy"], 3),
    }
    report["logs"] = str(logs)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
