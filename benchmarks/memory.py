"""Memory benchmarks, section (d) of issue 17: the store.

    .venv/bin/python benchmarks/memory.py [--sizes 10000,100000] [--queries 200]
    .venv/bin/python benchmarks/memory.py --sections search,embed,materialize

- ``search``: p50/p95 of ``SqliteMemoryStore.search`` (vectors + FTS5, fused) over N memories,
  ALL in one tenant (the worst case: the tenant filter prunes nothing), 384-dimensional
  vectors. The store is filled with the fake hash embedder (named ``fake-hash-384``): filling
  100k memories through MiniLM would take most of an hour here, and a brute-force scan costs
  the same whatever the vectors hold. The query's own MiniLM embedding is measured by
  ``embed``; a recall's latency is the two added.
- ``embed``: p50/p95 of MiniLM (numpy) for one query-length text, and texts per second.
- ``materialize``: N memories produced to ``memory.facts`` on a local broker (started here
  unless ``KAFKA_BOOTSTRAP_SERVERS`` is set), then: a full rebuild into a fresh file
  (memories/s, seconds), and a rebuild reusing the previous file's vectors.

Prints a line per figure and, as its LAST line, one JSON object with every figure. It also
prints the machine's raw speed (a fixed numpy matmul) so a slow day reads as a slow day.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from processors.memory.fakes import FakeHashEmbedder
from processors.memory.records import MemoryRecord
from processors.memory.sqlite_store import SqliteMemoryStore
from processors.testing.memory import at, fact
from processors.testing.speed import matmul_speed

WORDS = tuple(
    [
        "cloud",
        "storage",
        "software",
        "subscription",
        "fuel",
        "vehicle",
        "meals",
        "office",
        "supplies",
        "rent",
        "utilities",
        "insurance",
        "payroll",
        "bank",
        "fees",
        "travel",
        "hotel",
        "airline",
        "consulting",
        "legal",
        "marketing",
        "advertising",
        "shipping",
        "courier",
        "telephone",
        "internet",
        "hardware",
        "repairs",
    ]
)
ATTRIBUTES = ("website", "phone", "address", "account_category", "name", "opening_hours")


def _memories(n: int, tenant: str = "t-bench", seed: int = 7) -> list[MemoryRecord]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        value = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
        out.append(fact(tenant, f"vendor-{i}", rng.choice(ATTRIBUTES), f"{value} {i}",
                        at(1 + i % 28)))  # fmt: skip
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


raw_speed = matmul_speed


def section_search(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    rng = random.Random(11)
    for n in args.sizes:
        with tempfile.TemporaryDirectory() as folder:
            store = SqliteMemoryStore(Path(folder) / "m.sqlite", FakeHashEmbedder(384))
            start = time.perf_counter()
            for offset, record in enumerate(_memories(n)):
                store.apply(record.key, record, partition=0, offset=offset)
            fill = time.perf_counter() - start
            times = []
            for _ in range(args.queries):
                query = " ".join(rng.choice(WORDS) for _ in range(3))
                start = time.perf_counter()
                hits = store.search("t-bench", query, k=5)
                times.append((time.perf_counter() - start) * 1000)
                assert hits
            store.close()
        figures[str(n)] = {
            "search_p50_ms": round(_pct(times, 0.5), 2),
            "search_p95_ms": round(_pct(times, 0.95), 2),
            "fill_applies_per_s": round(n / fill),
        }
        print(f"search over {n}: p50 {figures[str(n)]['search_p50_ms']} ms, "
              f"p95 {figures[str(n)]['search_p95_ms']} ms")  # fmt: skip
    return figures


def section_embed(args: argparse.Namespace) -> dict[str, Any]:
    from processors.memory.embedders import MiniLMEmbedder

    model = MiniLMEmbedder()
    rng = random.Random(5)
    times = []
    for _ in range(args.queries):
        query = " ".join(rng.choice(WORDS) for _ in range(5))
        start = time.perf_counter()
        model.embed([query])
        times.append((time.perf_counter() - start) * 1000)
    texts = [m.text() for m in _memories(200)]
    start = time.perf_counter()
    model.embed(texts)
    rate = len(texts) / (time.perf_counter() - start)
    figures = {"query_p50_ms": round(_pct(times, 0.5), 2),
               "query_p95_ms": round(_pct(times, 0.95), 2),
               "memory_texts_per_s": round(rate, 1)}  # fmt: skip
    print(f"MiniLM query embedding p95 {figures['query_p95_ms']} ms; {rate:.0f} texts/s")
    return figures


def section_materialize(args: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka import Producer

    from processors.kafka.admin import apply_topics
    from processors.kafka.clients import Contracts, admin_client, producer_config
    from processors.memory.materializer import Materializer
    from processors.memory.writer import MemoryWriter
    from processors.testing.broker import session_broker

    n = max(args.sizes)
    figures: dict[str, Any] = {"memories": n}
    with session_broker() as base, tempfile.TemporaryDirectory() as folder:
        settings = base.model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:6]}."})
        contracts = Contracts.load(settings)
        apply_topics(admin_client(settings), contracts.catalog)
        writer = MemoryWriter(Producer(producer_config(settings)), contracts, timeout=300)
        records = _memories(n)
        for start in range(0, n, 10_000):
            writer.write(records[start : start + 10_000])

        def rebuild(path: Path, reuse: Path | None) -> tuple[float, str]:
            store = SqliteMemoryStore(path, FakeHashEmbedder(384), reuse=reuse)
            began = time.perf_counter()
            progress = Materializer(settings, contracts, store).catch_up(timeout=3600)
            seconds = time.perf_counter() - began
            assert progress.applied == n, progress
            digest = store.digest()
            store.close()
            return seconds, digest

        first, digest_1 = rebuild(Path(folder) / "a.sqlite", None)
        second, digest_2 = rebuild(Path(folder) / "b.sqlite", Path(folder) / "a.sqlite")
        figures |= {
            "rebuild_s": round(first, 1),
            "memories_per_s": round(n / first),
            "rebuild_reusing_vectors_s": round(second, 1),
            "digests_equal": digest_1 == digest_2,
        }
        print(f"rebuild of {n}: {first:.1f} s ({n / first:.0f}/s); reusing vectors "
              f"{second:.1f} s; digests equal: {digest_1 == digest_2}")  # fmt: skip
    return figures


SECTIONS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "search": section_search,
    "embed": section_embed,
    "materialize": section_materialize,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000",
                        type=lambda s: [int(x) for x in s.split(",")])  # fmt: skip
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sections", default="search,embed,materialize")
    args = parser.parse_args()
    figures: dict[str, Any] = {"machine": raw_speed() | {"cpus": os.cpu_count()}}
    print(f"machine: {figures['machine']}")
    for name in args.sections.split(","):
        figures[name] = SECTIONS[name](args)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
